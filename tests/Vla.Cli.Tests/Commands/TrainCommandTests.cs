using Vla.Checkpoints;
using Vla.Cli.Commands;

namespace Vla.Tests.Commands;

public sealed class TrainCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-train-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Command_line_options_override_the_config_file()
    {
        var parse = Vla.Cli.VlaCommandLine.Create().Parse(["train", "--config", Path.Combine(VlaProcess.RepoRoot, "configs", "sample.yaml"),
            "--epochs", "3", "--batch_size", "4", "--lr", "0.01", "--experiment_name", "x", "--train-data-override", "a/", "b/"]);
        Assert.Empty(parse.Errors);
        var config = TrainCommand.Overridden(parse);
        Assert.Equal((3, 4, 0.01, "x"), (config.Training.Epochs, config.Data.BatchSize, config.Optimizer.Lr, config.Training.ExperimentName));
        Assert.Equal(["a/", "b/"], config.Data.TrainParquetFiles);
        Assert.Equal(["../data-samples/val"], config.Data.ValParquetFiles);
    }

    [Fact]
    public async Task Killing_a_run_while_it_saves_leaves_every_published_checkpoint_loadable()
    {
        // One-episode-per-batch training that saves model_best and checkpoint_epoch_N after every short epoch.
        string config = VlaProcess.SampleConfig(_temp.Root, ("save_every_n_epochs: 5", "save_every_n_epochs: 1"), ("epochs: 20", "epochs: 1000"));
        using var process = VlaProcess.Start(["train", "--config", config, "--train-data-override", Path.Combine(VlaProcess.RepoRoot, "data-samples", "val"),
            "--val-data-override", VlaProcess.OneValidationEpisode(_temp.Root).To], VlaProcess.RepoRoot);
        string checkpoints = Path.Combine(_temp.Root, "sample", "checkpoints");
        var deadline = DateTime.UtcNow.AddSeconds(300); // a bound for a hang, not a speed limit: a loaded CI host is slow
        while (!(Directory.Exists(checkpoints) && Directory.GetDirectories(checkpoints, "checkpoint_epoch_*").Length >= 2) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(Directory.GetDirectories(checkpoints, "checkpoint_epoch_*").Length >= 2, "no two checkpoints were published within 300 s, so the kill would test nothing");
        await Task.Delay(new Random(20261202).Next(0, 1500)); // land somewhere in the next save (seeded: a failure repeats)
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();

        var published = Directory.GetDirectories(checkpoints).Where(d => !Path.GetFileName(d).Contains(".tmp-")).ToList();
        Assert.Contains(published, d => Path.GetFileName(d) == "model_best");
        foreach (var dir in published)
        {
            ModelFactory.FromCheckpoint(dir).Policy.Dispose();
        }
    }

    [Fact]
    public async Task A_cut_frame_stops_training_with_exit_2_naming_file_row_and_column_before_any_checkpoint()
    {
        string data = VlaProcess.SampleWithCutFrames(_temp.Root, episodes: 3, (1, 5));
        string config = VlaProcess.SampleConfig(_temp.Root, VlaProcess.OneValidationEpisode(_temp.Root));
        var result = await VlaProcess.RunAsync(["train", "--config", config, "--train-data-override", data, "--max-steps", "2"]);
        Assert.Equal(2, result.ExitCode);
        long row = RowOf(data, episode: 1, step: 5);
        Assert.StartsWith($"error: {data}, row {row}, column 'image_1': the JPEG data ends inside the compressed image data", result.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_temp.Root, "sample", "checkpoints")));
    }

    [Fact]
    public async Task With_skip_bad_frames_a_cut_frame_is_left_out_and_counted_in_the_log()
    {
        string data = VlaProcess.SampleWithCutFrames(_temp.Root, episodes: 3, (1, 5));
        string config = VlaProcess.SampleConfig(_temp.Root, ("prefetch_batches: 4", "prefetch_batches: 4\n  skip_bad_frames: true"), VlaProcess.OneValidationEpisode(_temp.Root));
        var result = await VlaProcess.RunAsync(["train", "--config", config, "--train-data-override", data, "--max-steps", "2"]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"data.skip_bad_frames: 1 broken training frame(s) left out with their windows (first: {data}, row {RowOf(data, 1, 5)}, column 'image_1'", result.Stdout);
        Assert.True(Directory.Exists(Path.Combine(_temp.Root, "sample", "checkpoints", "checkpoint_epoch_1")));
    }

    /// <summary>The file row of <paramref name="step"/> of episode <paramref name="episode"/>.</summary>
    private static long RowOf(string data, int episode, int step) =>
        Vla.Data.EpisodeDataset.OpenAsync([data], new Vla.Data.DataOptions { VerifyImages = false }).GetAwaiter().GetResult().Episodes[episode].Steps[step].Row;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SIGTERM_stops_after_the_current_step_and_saves_it_only_when_save_on_preempt_asks(bool save)
    {
        string config = VlaProcess.SampleConfig(_temp.Root, ("epochs: 20", "epochs: 1000"), ("  device: cpu", $"  device: cpu\n  save_on_preempt: {(save ? "true" : "false")}"));
        var (result, stopping) = await VlaProcess.TerminateDuringTraining(["train", "--config", config], afterStep: 10, TimeSpan.FromSeconds(30));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("SIGTERM: stopping after the current step", result.Stderr);
        string checkpoints = Path.Combine(_temp.Root, "sample", "checkpoints");
        if (!save)
        {
            Assert.Contains("nothing was saved (set training.save_on_preempt: true", result.Stderr);
            Assert.False(Directory.Exists(checkpoints));
            return;
        }
        var match = System.Text.RegularExpressions.Regex.Match(result.Stderr, @"stopped on request after step (\d+); saved (\S+) \(resume");
        Assert.True(match.Success, result.Stderr);
        Assert.Equal(Path.Combine(checkpoints, "checkpoint_epoch_1"), match.Groups[2].Value);
        // train.log words it as the user would type it, as the console does
        Assert.Contains($"resume with --resume-checkpoint {match.Groups[2].Value}", File.ReadAllText(Path.Combine(_temp.Root, "sample", "logs", "train.log")));
        var state = TrainerState.Load(Path.Combine(checkpoints, "checkpoint_epoch_1", CheckpointFiles.TrainerState));
        Assert.Equal(long.Parse(match.Groups[1].Value), state.Step);
        Assert.Equal(state.Step, state.BatchesInEpoch); // inside epoch 1: resuming finishes it
        Assert.Equal(["checkpoint_epoch_1"], Directory.GetDirectories(checkpoints).Select(Path.GetFileName)); // no half-written folder
        ModelFactory.FromCheckpoint(Path.Combine(checkpoints, "checkpoint_epoch_1")).Policy.Dispose();
    }
}
