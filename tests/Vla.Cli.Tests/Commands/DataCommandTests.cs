using Vla.Data;
using Vla.Data.Seed;

namespace Vla.Tests.Commands;

public sealed class DataCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-cli-");

    public void Dispose() => _temp.Dispose();

    private string BadDataset()
    {
        var rows = Enumerable.Range(0, 3).Select(t => new StepRow(
            [1, 2, 3], null, [0f, t, float.NaN, 0f, 0f, 0f, 0f], [0f, 0f, 0f, 0f, 0f, 0f, 0f], t == 0, t == 2, t == 2, "pick up the red cube")).ToList();
        string path = Path.Combine(_temp.Root, "bad", "episodes.parquet");
        SeedEpisodeWriter.WriteAsync(path, [rows]).GetAwaiter().GetResult();
        return path;
    }

    [Fact]
    public async Task Make_sample_data_writes_train_and_val_splits()
    {
        var result = await VlaProcess.RunAsync("make-sample-data", "--out", _temp.Root, "--train-episodes", "2", "--val-episodes", "1", "--image-size", "16");
        Assert.Equal(0, result.ExitCode);
        Assert.True(File.Exists(Path.Combine(_temp.Root, "train", "episodes-000.parquet")));
        Assert.True(File.Exists(Path.Combine(_temp.Root, "val", "episodes-000.parquet")));
        Assert.Contains("Wrote 2 training and 1 validation episodes", result.Stdout);
    }

    [Fact]
    public async Task Inspect_summarizes_the_committed_sample_data()
    {
        var result = await VlaProcess.RunAsync("inspect", "--data", "data-samples/train");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("60 episodes", result.Stdout);
        Assert.Contains("pick up the", result.Stdout);
        Assert.Contains("image_2: 64×64", result.Stdout);
        Assert.Contains("No bad rows.", result.Stdout);
    }

    [Fact]
    public async Task Inspect_lists_bad_rows_and_exits_2()
    {
        string path = BadDataset();
        var result = await VlaProcess.RunAsync("inspect", "--data", path);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("6 problem(s)", result.Stdout); // per row: NaN state + unreadable image
        Assert.Contains($"{path}, row 0, column 'state': value 2 is NaN", result.Stdout);
    }

    [Fact]
    public async Task Inspect_decodes_every_frame_and_names_a_cut_one_by_file_row_and_column()
    {
        string path = VlaProcess.SampleWithCutFrames(_temp.Root, episodes: 2, (1, 3));
        long row = (await EpisodeDataset.OpenAsync([path], new DataOptions { VerifyImages = false })).Episodes[1].Steps[3].Row;
        var result = await VlaProcess.RunAsync("inspect", "--data", path);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("1 problem(s)", result.Stdout);
        Assert.Contains($"{path}, row {row}, column 'image_1': the JPEG data ends inside the compressed image data", result.Stdout);
    }

    [Fact]
    public async Task Inspect_without_a_config_reports_a_state_one_value_shorter_than_the_others()
    {
        var rows = Enumerable.Range(0, 4).Select(t => new StepRow(VlaProcess.SamplePng(), null, t == 2 ? [0f, 1f] : [0f, 1f, 2f], [0f], t == 0, t == 3, t == 3, "push")).ToList();
        string path = Path.Combine(_temp.Root, "short", "episodes.parquet");
        await SeedEpisodeWriter.WriteAsync(path, [rows]);
        var result = await VlaProcess.RunAsync("inspect", "--data", path);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{path}, row 2, column 'state': expected 3 values (the length most rows have), found 2.", result.Stdout);
    }

    [Fact]
    public async Task Stats_writes_json_for_the_sample_config()
    {
        string output = Path.Combine(_temp.Root, "stats.json");
        var result = await VlaProcess.RunAsync("stats", "--config", "configs/sample.yaml", "--output", output);
        Assert.Equal(0, result.ExitCode);
        var stats = NormalizationStats.Load(output);
        Assert.Equal(7, stats.Action.Dim);
        Assert.Equal(60, stats.NumEpisodes);
        Assert.Contains("warning: action dimension 3: constant at 0 in the statistics", result.Stdout); // the sample never rolls
        Assert.Contains("flags", result.Stdout);
    }

    [Fact]
    public async Task Stats_on_bad_data_exits_2_with_one_sentence_and_writes_nothing()
    {
        string path = BadDataset();
        string output = Path.Combine(_temp.Root, "stats.json");
        var result = await VlaProcess.RunAsync("stats", "--config", "configs/sample.yaml", "--output", output, "--train-data-override", path);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: {path}, row 0, column 'state': value 2 is NaN", result.Stderr);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(output));
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public async Task A_misspelt_config_key_exits_2_naming_it()
    {
        string config = Path.Combine(_temp.Root, "c.yaml");
        File.WriteAllText(config, "data:\n  train_parquet_file: data-samples/train\n");
        var result = await VlaProcess.RunAsync("stats", "--config", config, "--output", Path.Combine(_temp.Root, "s.json"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown key 'data.train_parquet_file'; did you mean 'data.train_parquet_files'?", result.Stderr);
    }

    [Fact]
    public async Task Verbose_adds_the_stack_trace()
    {
        var result = await VlaProcess.RunAsync("stats", "--config", "/nonexistent.yaml", "--output", "x.json", "--verbose");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("   at ", result.Stderr);
    }
}
