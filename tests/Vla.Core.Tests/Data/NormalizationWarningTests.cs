using SixLabors.ImageSharp.PixelFormats;
using Vla.Data;
using Vla.Runtime;
using Vla.Data.Seed;

namespace Vla.Tests.Data;

public sealed class NormalizationWarningTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>One episode whose action dimension 0 is <paramref name="value"/>(t) and dimension 1 moves steadily; state likewise.</summary>
    private async Task<EpisodeDataset> Dataset(string name, int length, Func<int, float> value)
    {
        var image = TestFiles.Png(4, 4, new Rgb24(0, 0, 0));
        var rows = Enumerable.Range(0, length).Select(t => new StepRow(image, null, [value(t), t], [value(t), t], t == 0, t == length - 1, false, "go")).ToList();
        return await EpisodeDataset.OpenAsync([_files.Write(name, [rows])], new DataOptions { VerifyImages = false });
    }

    [Fact]
    public async Task A_dimension_that_rarely_moves_is_flagged_as_openpi_814_met_it_in_quantile_mode()
    {
        // Training: 99.5 % of the steps sit near 0 (noise 1e-5), 0.5 % jump to 1, so q01..q99 is a sliver of the range.
        // Validation: the gripper closes more often (2 %), and quantile mode sends those steps to about 10⁴.
        var train = await Dataset("train.parquet", 1000, t => t % 200 == 0 ? 1f : (t % 7) * 1e-5f);
        var val = await Dataset("val.parquet", 1000, t => t % 50 == 0 ? 1f : (t % 7) * 1e-5f);
        var stats = NormalizationStats.Compute(train);
        var warnings = NormalizationWarning.Find(stats, NormalizationMode.Quantile, val);
        var action = warnings.Where(w => w is { Quantity: "action", Dim: 0 }).ToList();
        Assert.Contains(action, w => w.Flag == "q01≈q99");
        var outside = Assert.Single(action, w => w.Flag.EndsWith("outside ±3"));
        Assert.StartsWith("action dimension 0: quantile maps 2.0% of the values of val.parquet outside [−3, 3] (up to", outside.ToString());
        Assert.DoesNotContain(warnings, w => w.Dim == 1); // the steady dimension is fine
        Assert.DoesNotContain(NormalizationWarning.Find(stats, NormalizationMode.MinMax, val), w => w.Dim == 0); // min_max keeps it in [−1, 1]
    }

    [Fact]
    public async Task A_constant_dimension_is_named()
    {
        var train = await Dataset("constant.parquet", 20, _ => 0.5f);
        var warning = Assert.Single(NormalizationWarning.Find(NormalizationStats.Compute(train), NormalizationMode.MinMax), w => w.Quantity == "action");
        Assert.Equal("action dimension 0: constant at 0.5 in the statistics: it normalizes to 0, so the model never sees it move.", warning.ToString());
    }

    [Fact]
    public async Task Statistics_without_quantiles_are_refused_for_quantile_mode_naming_the_field_and_accepted_otherwise()
    {
        var stats = NormalizationStats.Compute(await Dataset("a.parquet", 20, t => t));
        string path = _files.PathOf("lerobot-like-stats.json");
        File.WriteAllText(path, System.Text.RegularExpressions.Regex.Replace(stats.ToJson(), @",\s*""q0?\d+"": \[[^\]]*\]", ""));
        var loaded = NormalizationStats.Load(path);
        Assert.Empty(loaded.Action.Q01);
        var e = Assert.Throws<BadInputException>(() => loaded.Require(NormalizationMode.Quantile, path));
        Assert.StartsWith($"{path}: 'state.q01' is missing, and data.normalization_mode quantile needs q01 and q99", e.Message);
        _ = new Normalizer(loaded, NormalizationMode.MinMax); // min_max needs no quantiles
    }
}
