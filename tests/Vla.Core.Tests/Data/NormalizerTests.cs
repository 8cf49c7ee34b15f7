using Vla.Data;

namespace Vla.Tests.Data;

public class NormalizerTests
{
    /// <summary>Two dimensions: dim 0 spans [0, 10] (mean 4, std 2, q01 1, q99 9); dim 1 is constant 3.</summary>
    private static NormalizationStats Stats()
    {
        DimensionStats Dims() => new()
        {
            Min = [0f, 3f], Max = [10f, 3f], Mean = [4f, 3f], Std = [2f, 0f], Q01 = [1f, 3f], Q99 = [9f, 3f], Count = 100,
        };
        return new NormalizationStats { State = Dims(), Action = Dims() };
    }

    [Theory]
    [InlineData(NormalizationMode.MinMax, 0f, -1f)]
    [InlineData(NormalizationMode.MinMax, 10f, 1f)]
    [InlineData(NormalizationMode.MinMax, 5f, 0f)]
    [InlineData(NormalizationMode.ZScore, 8f, 2f)]
    [InlineData(NormalizationMode.ZScore, 4f, 0f)]
    [InlineData(NormalizationMode.Quantile, 1f, -1f)]
    [InlineData(NormalizationMode.Quantile, 9f, 1f)]
    [InlineData(NormalizationMode.Quantile, 10f, 1.25f)]
    public void Maps_dimension_values_as_documented(NormalizationMode mode, float raw, float expected)
    {
        var normalizer = new Normalizer(Stats(), mode);
        float[] values = [raw, 3f];
        normalizer.NormalizeState(values);
        Assert.Equal(expected, values[0], 1e-6f);
    }

    [Theory]
    [InlineData(NormalizationMode.MinMax)]
    [InlineData(NormalizationMode.ZScore)]
    [InlineData(NormalizationMode.Quantile)]
    public void A_degenerate_dimension_maps_to_zero_and_back_to_its_constant(NormalizationMode mode)
    {
        var normalizer = new Normalizer(Stats(), mode);
        float[] values = [5f, 3f, 5f, 7f];
        normalizer.NormalizeActions(values);
        Assert.Equal(0f, values[1]);
        Assert.Equal(0f, values[3]); // even a value off the constant does not blow up
        normalizer.DenormalizeActions(values);
        Assert.Equal(3f, values[1]);
        Assert.Equal(3f, values[3]);
        Assert.All(values, v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(NormalizationMode.MinMax)]
    [InlineData(NormalizationMode.ZScore)]
    [InlineData(NormalizationMode.Quantile)]
    public void Denormalize_inverts_normalize_on_non_degenerate_dimensions(NormalizationMode mode)
    {
        var normalizer = new Normalizer(Stats(), mode);
        var random = new Random(1);
        var raw = Enumerable.Range(0, 200).Select(i => i % 2 == 0 ? (float)(random.NextDouble() * 14 - 2) : 3f).ToArray();
        var values = (float[])raw.Clone();
        normalizer.NormalizeActions(values);
        normalizer.DenormalizeActions(values);
        for (int i = 0; i < raw.Length; i++) Assert.Equal(raw[i], values[i], 1e-5f);
    }

    [Fact]
    public async Task Stats_computed_from_the_sample_data_normalize_it_into_minus_one_to_one()
    {
        var dataset = await EpisodeDataset.OpenAsync([Path.Combine(TestFiles.RepoRoot, "data-samples/train")], new DataOptions { VerifyImages = false });
        var stats = NormalizationStats.Compute(dataset);
        var normalizer = new Normalizer(stats, NormalizationMode.MinMax);
        foreach (var step in dataset.Episodes.SelectMany(e => e.Steps))
        {
            var action = (float[])step.Action.Clone();
            normalizer.NormalizeActions(action);
            Assert.All(action, v => Assert.InRange(v, -1.0001f, 1.0001f));
        }
    }

    [Fact]
    public void Stats_survive_a_json_round_trip()
    {
        using var files = new TestFiles();
        string path = files.PathOf("stats.json");
        Stats().Save(path);
        var loaded = NormalizationStats.Load(path);
        Assert.Equal(Stats().State.Q99, loaded.State.Q99);
        Assert.Equal(100, loaded.Action.Count);
        Assert.Contains("\"q01\"", File.ReadAllText(path));
    }

    [Fact]
    public void A_stats_file_with_mismatched_arrays_is_bad_input()
    {
        const string json = "{\"state\": {\"min\": [0], \"max\": [1, 2], \"mean\": [0], \"std\": [1], \"q01\": [0], \"q99\": [1], \"count\": 1}," +
            "\"action\": {\"min\": [0], \"max\": [1], \"mean\": [0], \"std\": [1], \"q01\": [0], \"q99\": [1], \"count\": 1}}";
        var e = Assert.Throws<Vla.Runtime.BadInputException>(() => NormalizationStats.FromJson(json, "s.json"));
        Assert.Equal("s.json: the 'state' statistics have arrays of different lengths.", e.Message);
    }
}
