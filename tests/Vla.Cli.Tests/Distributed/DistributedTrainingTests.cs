using System.Diagnostics;
using Vla.Model.Weights;
using static TorchSharp.torch;

namespace Vla.Tests.Distributed;

public sealed class DistributedTrainingTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-ddp-");

    public void Dispose() => _temp.Dispose();

    /// <summary>The sample config with an absolute data path, a global batch of 8 and the runs under the temp folder.</summary>
    private string Config(int epochs = 1) =>
        VlaProcess.SampleConfig(_temp.Root, ("batch_size: 16", "batch_size: 8"), ("epochs: 20", $"epochs: {epochs}"), VlaProcess.OneValidationEpisode(_temp.Root));

    private static Dictionary<string, Tensor> Weights(string checkpoint)
    {
        var file = SafetensorsFile.Open(Path.Combine(checkpoint, "model.safetensors"));
        return file.Entries.ToDictionary(e => e.Name, e => file.Read(e.Name));
    }

    [Fact]
    public async Task Two_ranks_with_global_batch_8_reach_the_weights_of_one_rank_with_batch_8()
    {
        MpiRequirement.Check();
        // Buckets of 0.05 MB: the gradients travel in many all-reduces, as a large model's do. Dropout 0.1, as the 3B
        // configs: each rank drops its own samples' units, exactly those one process drops.
        string config = VlaProcess.SampleConfig(_temp.Root, ("batch_size: 16", "batch_size: 8"), ("epochs: 20", "epochs: 1\n  ddp_bucket_mb: 0.05"),
            ("dropout_prob: 0.0", "dropout_prob: 0.1"), VlaProcess.OneValidationEpisode(_temp.Root));
        var one = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "3", "--experiment-name", "one"]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        var two = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "3", "--experiment-name", "two", "--nproc-per-node", "2"]);
        Assert.True(two.ExitCode == 0, two.Stdout + two.Stderr);
        Assert.Contains("data parallel: 2 processes", two.Stdout);

        var a = Weights(Path.Combine(_temp.Root, "one", "checkpoints", "checkpoint_epoch_1"));
        var b = Weights(Path.Combine(_temp.Root, "two", "checkpoints", "checkpoint_epoch_1"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worst = a.Keys.Max(k => (a[k] - b[k]).abs().max().item<float>());
        Assert.True(worst <= 1e-5, $"largest parameter difference {worst:G3}");
    }

    [Fact]
    public async Task A_run_stopped_inside_an_epoch_resumes_across_two_ranks_and_one_to_the_uninterrupted_weights()
    {
        MpiRequirement.Check();
        // Epoch 1 has 180 steps of 8 windows: every stop below is inside it, and each resume continues that epoch.
        string config = Config(epochs: 3);
        var whole = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "6", "--experiment-name", "whole"]);
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var two = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "2", "--experiment-name", "a", "--nproc-per-node", "2"]);
        Assert.True(two.ExitCode == 0, two.Stdout + two.Stderr);
        string first = Path.Combine(_temp.Root, "a", "checkpoints", "checkpoint_epoch_1");
        var one = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "4", "--experiment-name", "b", "--resume-checkpoint", first]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.Contains("inside epoch 1 after its batch 2, step 2", one.Stdout);
        string second = Path.Combine(_temp.Root, "b", "checkpoints", "checkpoint_epoch_1");
        var back = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "6", "--experiment-name", "c", "--resume-checkpoint", second, "--nproc-per-node", "2"]);
        Assert.True(back.ExitCode == 0, back.Stdout + back.Stderr);

        var a = Weights(Path.Combine(_temp.Root, "whole", "checkpoints", "checkpoint_epoch_1"));
        var b = Weights(Path.Combine(_temp.Root, "c", "checkpoints", "checkpoint_epoch_1"));
        double worst = a.Keys.Max(k => (a[k] - b[k]).abs().max().item<float>());
        Assert.True(worst <= 1e-5, $"largest parameter difference {worst:G3}");
    }

    [Fact]
    public async Task Killing_one_rank_stops_the_job_within_30_seconds_naming_the_rank_and_leaves_no_process()
    {
        MpiRequirement.Check();
        string config = Config(epochs: 1000);
        using var launcher = VlaProcess.Start(["train", "--config", config, "--experiment-name", "killed", "--nproc-per-node", "2"]);
        var stdout = new List<string>();
        var stderr = new List<string>();
        launcher.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Add(e.Data); };
        launcher.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Add(e.Data); };
        launcher.BeginOutputReadLine();
        launcher.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(120);
        int? victim = null;
        while (victim is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            bool training; lock (stdout) training = stdout.Any(l => l.Contains("epoch 1 step", StringComparison.Ordinal));
            if (training) victim = Workers(config).FirstOrDefault(w => w.Rank == 1).Pid;
        }
        Assert.NotNull(victim);
        var watch = Stopwatch.StartNew();
        Process.GetProcessById(victim.Value).Kill();
        bool exited = launcher.WaitForExit(30_000);
        Assert.True(exited, "the job was still running 30 s after a rank died");
        await launcher.WaitForExitAsync();
        Assert.NotEqual(0, launcher.ExitCode);
        string all; lock (stdout) lock (stderr) all = string.Join("\n", stdout.Concat(stderr));
        Assert.Matches("rank 1", all);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        Assert.Empty(Workers(config));
    }

    [Fact]
    public async Task A_rank_0_that_cannot_save_ends_the_job_naming_itself_and_leaves_no_process()
    {
        MpiRequirement.Check();
        string config = Config();
        Directory.CreateDirectory(Path.Combine(_temp.Root, "nosave"));
        File.WriteAllText(Path.Combine(_temp.Root, "nosave", "checkpoints"), "a file where the checkpoints folder goes, as a full or read-only disk fails a save");
        var (result, took) = await VlaProcess.RunBounded(["train", "--config", config, "--max-steps", "2", "--experiment-name", "nosave", "--nproc-per-node", "2"], TimeSpan.FromSeconds(150));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"error: rank 0 of 2 stopped the job: The checkpoint {Path.Combine(_temp.Root, "nosave", "checkpoints", "model_best")} could not be written", result.Stderr);
        Assert.Empty(Workers(config));
    }

    [Fact]
    public async Task A_cut_frame_only_rank_1_decodes_ends_the_job_with_exit_2_naming_rank_file_row_and_column()
    {
        MpiRequirement.Check();
        // The frame rank 1 decodes first in epoch 1 (rank 0 never reads it): found from the loader's own epoch order.
        string clean = VlaProcess.SampleWithCutFrames(Path.Combine(_temp.Root, "clean"), episodes: 4);
        string config = VlaProcess.SampleConfig(_temp.Root, ("batch_size: 16", "batch_size: 8"), ("prefetch_batches: 4", "prefetch_batches: 4\n  verify_images: false"),
            VlaProcess.OneValidationEpisode(_temp.Root));
        var vla = Vla.Config.ConfigLoader.Load(config);
        var dataset = await Vla.Data.EpisodeDataset.OpenAsync([clean], new Vla.Data.DataOptions { VerifyImages = false });
        var loader = new Vla.Data.Loading.BatchLoader(dataset, new Vla.Data.Normalizer(Vla.Data.NormalizationStats.Compute(dataset), Vla.Data.NormalizationMode.MinMax),
            Vla.Data.Loading.BatchLayout.Of(Vla.Model.PaliGemmaFlow.VlaModelConfig.From(vla).Spec), new Vla.Data.Loading.LoaderOptions { BatchSize = 4, Rank = 1, WorldSize = 2, Seed = vla.Training.Seed });
        var window = loader.EpochBatches(1)[0][0];
        string data = VlaProcess.SampleWithCutFrames(_temp.Root, episodes: 4, (window.Episode, window.Step));
        long row = dataset.Episodes[window.Episode].Steps[window.Step].Row;

        var (result, _) = await VlaProcess.RunBounded(["train", "--config", config, "--train-data-override", data, "--max-steps", "3", "--experiment-name", "cut", "--nproc-per-node", "2"],
            TimeSpan.FromSeconds(150));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"error: rank 1 of 2 stopped the job: {data}, row {row}, column 'image_1': the JPEG data ends", result.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_temp.Root, "cut", "checkpoints")));
        Assert.Empty(Workers(config));
    }

    [Fact]
    public async Task SIGTERM_to_the_launcher_stops_every_rank_after_the_same_step_saves_it_and_leaves_no_process()
    {
        MpiRequirement.Check();
        string config = VlaProcess.SampleConfig(_temp.Root, ("batch_size: 16", "batch_size: 8"), ("epochs: 20", "epochs: 1000"), ("  device: cpu", "  device: cpu\n  save_on_preempt: true"));
        var (result, _) = await VlaProcess.TerminateDuringTraining(["train", "--config", config, "--experiment-name", "preempted", "--nproc-per-node", "2"],
            afterStep: 10, TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("rank 0: SIGUSR1 (forwarded by mpirun): stopping after the current step", result.Stderr);
        Assert.Contains("rank 1: SIGUSR1 (forwarded by mpirun): stopping after the current step", result.Stderr);
        string saved = Path.Combine(_temp.Root, "preempted", "checkpoints", "checkpoint_epoch_1");
        Assert.Contains($"saved {saved}", result.Stderr);
        var state = Vla.Checkpoints.TrainerState.Load(Path.Combine(saved, Vla.Checkpoints.CheckpointFiles.TrainerState));
        Assert.Equal(state.Step, state.BatchesInEpoch);
        await Task.Delay(500);
        Assert.Empty(Workers(config));
    }

    /// <summary>The worker processes running <paramref name="config"/>, with their MPI rank.</summary>
    private static List<(int Pid, int Rank)> Workers(string config)
    {
        var found = new List<(int, int)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (!cmdline.Contains(config, StringComparison.Ordinal)) continue;
                string environ = File.ReadAllText(Path.Combine(dir, "environ"));
                var rank = environ.Split('\0').FirstOrDefault(v => v.StartsWith("OMPI_COMM_WORLD_RANK=", StringComparison.Ordinal));
                if (rank is not null) found.Add((pid, int.Parse(rank.Split('=')[1])));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    [Fact]
    public async Task Diagnose_runs_a_two_rank_all_reduce_self_test()
    {
        MpiRequirement.Check();
        var result = await VlaProcess.RunAsync("diagnose");
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("rank 1/2: all-reduce correct", result.Stdout);
        Assert.Contains("2-rank self-test       passed", result.Stdout);
    }
}
