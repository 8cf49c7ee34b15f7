using Vla.Data.LeRobot;

namespace Vla.Tests.Commands;

/// <summary>The commands on a real LeRobot v2.1 dataset read in place (tests/data/lerobot-g1-v21: three episodes of 100, AV1 video, MIT).</summary>
public sealed class LeRobotCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-cli-");
    private static string Sample => Path.Combine(VlaProcess.RepoRoot, "tests", "data", "lerobot-g1-v21");

    public void Dispose() => _temp.Dispose();

    /// <summary>FFmpeg is a system component: its absence skips, unless CI asks for it (VLA_REQUIRE_FFMPEG=1).</summary>
    private static void RequireFfmpeg()
    {
        if (VideoDecoder.Available) return;
        const string reason = "ffmpeg is not installed (Debian: apt-get install ffmpeg).";
        if (Environment.GetEnvironmentVariable("VLA_REQUIRE_FFMPEG") == "1") Assert.Fail(reason + " VLA_REQUIRE_FFMPEG=1 requires it.");
        Assert.Skip(reason);
    }

    /// <summary>configs/lerobot_g1.yaml with absolute paths, writing under the test's folder, over <paramref name="data"/>.</summary>
    private string Config(string? data = null) => VlaProcess.RepoConfig(_temp.Root, "lerobot_g1.yaml", ("../tests/data/lerobot-g1-v21", data ?? Sample));

    [Fact]
    public async Task Inspect_on_a_partial_download_lists_every_missing_file_and_passes_on_the_episodes_that_are_there()
    {
        var partial = await VlaProcess.RunAsync("inspect", "--data", Sample, "--verbose");
        Assert.Equal(2, partial.ExitCode);
        Assert.Contains("194 problem(s)", partial.Stdout);
        Assert.Equal(194, partial.Stdout.Split('\n').Count(l => l.Contains(" is missing.", StringComparison.Ordinal)));
        Assert.Contains("episode_000000.parquet: the data file of episode 0 is missing.", partial.Stdout);
        Assert.Contains("--episodes 41:44", partial.Stdout);

        RequireFfmpeg();
        var present = await VlaProcess.RunAsync("inspect", "--data", Sample, "--episodes", "41:44");
        Assert.True(present.ExitCode == 0, present.Stdout + present.Stderr);
        Assert.Contains("LeRobot v2.1", present.Stdout);
        Assert.Contains("episodes 41-43", present.Stdout);
        Assert.Contains("kLeftShoulderPitch", present.Stdout);
        Assert.Contains("observation.images.cam_high: video", present.Stdout);
        Assert.Contains("No bad rows.", present.Stdout);
    }

    [Fact]
    public async Task Stats_on_a_LeRobot_dataset_uses_its_recorded_statistics_with_joint_names()
    {
        string output = Path.Combine(_temp.Root, "stats.json");
        var result = await VlaProcess.RunAsync("stats", "--config", Config(), "--output", output);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        // The console wraps long lines at word boundaries, and the path's length depends on where the checkout is.
        Assert.Contains("episodes_stats.jsonl (2 episodes)", string.Join(' ', result.Stdout.Split((char[])['\n', ' '], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Contains("kRightHandThumbRotation", result.Stdout);
        var stats = Vla.Data.NormalizationStats.Load(output);
        Assert.Equal(799, stats.State.Count); // episodes 41 and 42: data.train_episodes "41:43"
        Assert.Equal("kLeftShoulderPitch", stats.Action.Names![0]);
    }

    [Fact]
    public async Task Train_on_chosen_episodes_of_one_root_then_eval_others_by_episode_index()
    {
        RequireFfmpeg();
        var train = await VlaProcess.RunAsync("train", "--config", Config(), "--epochs", "1", "--max-steps", "6");
        Assert.True(train.ExitCode == 0, train.Stdout + train.Stderr);
        Assert.Contains("2 training episodes (799 windows), 1 validation episodes (394 windows)", train.Stdout);
        string checkpoint = Path.Combine(_temp.Root, "lerobot_g1", "checkpoints", "model_best");
        Assert.True(Directory.Exists(checkpoint));

        string output = Path.Combine(_temp.Root, "eval");
        var eval = await VlaProcess.RunAsync("eval", "--checkpoint", checkpoint, "--eval-data", Sample, "--episodes", "43", "--output-dir", output, "--save-predictions");
        Assert.True(eval.ExitCode == 0, eval.Stdout + eval.Stderr);
        var lines = File.ReadLines(Path.Combine(output, "predictions.csv")).ToList();
        Assert.Equal("episode,step,horizon_step,dim,predicted,truth,dataset,dim_name", lines[0]);
        Assert.StartsWith("43,0,0,0,", lines[1]);
        Assert.EndsWith(",kLeftShoulderPitch", lines[1]);
        string report = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("kRightHandThumbRotation", report);
        Assert.Contains("Episode 43", report);
    }

    [Fact]
    public async Task A_pi0_folder_fine_tunes_on_a_LeRobot_dataset_then_evaluates_and_exports_as_a_LeRobot_folder_that_predicts_the_same()
    {
        RequireFfmpeg();
        string config = VlaProcess.RepoConfig(_temp.Root, "pi0_lerobot_g1.yaml", ("../tests/data/lerobot-g1-v21", Sample));
        var train = await VlaProcess.RunAsync("train", "--config", config, "--epochs", "1", "--max-steps", "4");
        Assert.True(train.ExitCode == 0, train.Stdout + train.Stderr);
        Assert.Contains("2 training episodes (799 windows), 1 validation episodes (394 windows)", train.Stdout);
        Assert.Contains("trainable) on cpu", train.Stdout);
        string experiment = Path.Combine(_temp.Root, "pi0_lerobot_g1");
        string checkpoint = Path.Combine(experiment, "checkpoints", "model_best");
        Assert.True(File.Exists(Path.Combine(checkpoint, "pi0_trained.safetensors")));
        Assert.True(File.Exists(Path.Combine(experiment, "lerobot", "model.safetensors")), "training.save_lerobot wrote no folder");

        string output = Path.Combine(_temp.Root, "eval");
        var eval = await VlaProcess.RunAsync("eval", "--checkpoint", checkpoint, "--eval-data", Sample, "--episodes", "43", "--output-dir", output, "--save-predictions");
        Assert.True(eval.ExitCode == 0, eval.Stdout + eval.Stderr);
        var lines = File.ReadLines(Path.Combine(output, "predictions.csv")).ToList();
        Assert.StartsWith("43,0,0,0,", lines[1]);
        Assert.Contains(lines, l => l.EndsWith(",kRightHandThumbRotation", StringComparison.Ordinal));

        // Real-time chunking on pi0: the replay plays episode 43's video as a robot would, naive and guided.
        string replay = Path.Combine(_temp.Root, "replay.json");
        var played = await VlaProcess.RunAsync("replay", "--checkpoint", checkpoint, "--data", Sample, "--episodes", "43", "--delay", "1", "--execute", "4", "--rtc", "--output", replay);
        Assert.True(played.ExitCode == 0, played.Stdout + played.Stderr);
        Assert.Contains("RTC / naive: mean jump", played.Stdout);
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(replay)))
            Assert.Equal(["naive", "rtc"], json.RootElement.GetProperty("modes").EnumerateArray().Select(m => m.GetProperty("mode").GetString()));

        string exported = Path.Combine(_temp.Root, "exported");
        var export = await VlaProcess.RunAsync("export", "--checkpoint", checkpoint, "--format", "lerobot", "--output", exported);
        Assert.True(export.ExitCode == 0, export.Stdout + export.Stderr);
        var exportedConfig = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(exported, "config.json")))!;
        Assert.Equal("pi0", exportedConfig["type"]!.GetValue<string>());
        Assert.Equal(26, exportedConfig["output_features"]!["action"]!["shape"]![0]!.GetValue<int>());
        Assert.NotNull(exportedConfig["input_features"]!["observation.images.cam_high"]);
        // The exported folder evaluates in place, its cameras found by their LeRobot keys, as the checkpoint did.
        var evalFolder = await VlaProcess.RunAsync("eval", "--checkpoint", exported, "--eval-data", Sample, "--episodes", "43", "--batch-size", "8",
            "--output-dir", Path.Combine(_temp.Root, "eval-exported"));
        Assert.True(evalFolder.ExitCode == 0, evalFolder.Stdout + evalFolder.Stderr);
        double Mse(string folder) => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "metrics.json")))!["overall"]!["mse"]!.GetValue<double>();
        Assert.Equal(Mse(output), Mse(Path.Combine(_temp.Root, "eval-exported")), 5);

        // The checkpoint (base + trained tensors, adapters apart) and the exported folder (adapters folded in) predict the same chunk from the same noise.
        string image = Path.Combine(_temp.Root, "frame.png");
        File.WriteAllBytes(image, VlaProcess.SamplePng());
        string noise = VlaProcess.Npy(Path.Combine(_temp.Root, "noise.npy"), [10, 32]);
        var state = Enumerable.Range(0, 26).Select(i => (0.01 * i).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var chunks = new List<float[]>();
        foreach (var folder in new[] { checkpoint, exported })
        {
            string json = Path.Combine(_temp.Root, $"chunk-{chunks.Count}.json");
            var predict = await VlaProcess.RunAsync(["predict", "--checkpoint", folder, "--image1", image, "--prompt", "pick up the box", "--state", .. state, "--noise", noise, "--output", json]);
            Assert.True(predict.ExitCode == 0, predict.Stdout + predict.Stderr);
            chunks.Add(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!["actions"]!.AsArray().SelectMany(r => r!.AsArray().Select(v => v!.GetValue<float>())).ToArray());
        }
        Assert.Equal(10 * 26, chunks[0].Length);
        for (int i = 0; i < chunks[0].Length; i++) Assert.True(Math.Abs(chunks[0][i] - chunks[1][i]) <= 1e-4 * (1 + Math.Abs(chunks[0][i])), $"value {i}: {chunks[0][i]} vs {chunks[1][i]}");
    }

    [Fact]
    public async Task A_pi0_fine_tune_reads_every_camera_data_image_keys_names_and_saves_them_as_features()
    {
        RequireFfmpeg();
        // The sample with two more cameras (copies of its one video under other keys), as an ALOHA-like dataset has three.
        string root = _temp.Copy(Sample, "three-cameras");
        var info = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(root, "meta", "info.json")))!.AsObject();
        string[] keys = ["observation.images.cam_high", "observation.images.cam_left_wrist", "observation.images.cam_right_wrist"];
        foreach (var key in keys[1..])
        {
            info["features"]![key] = info["features"]![keys[0]]!.DeepClone();
            foreach (var video in Directory.EnumerateFiles(Path.Combine(root, "videos", "chunk-000", keys[0])))
            {
                Directory.CreateDirectory(Path.Combine(root, "videos", "chunk-000", key));
                File.Copy(video, Path.Combine(root, "videos", "chunk-000", key, Path.GetFileName(video)));
            }
        }
        File.WriteAllText(Path.Combine(root, "meta", "info.json"), info.ToJsonString());
        string config = VlaProcess.RepoConfig(_temp.Root, "pi0_lerobot_g1.yaml", ("../tests/data/lerobot-g1-v21", root),
            ("image_keys: [observation.images.cam_high]", $"image_keys: [{string.Join(", ", keys)}]"), ("val_episodes: [43]", "val_episodes: []"));
        var train = await VlaProcess.RunAsync("train", "--config", config, "--epochs", "1", "--max-steps", "1");
        Assert.True(train.ExitCode == 0, train.Stdout + train.Stderr);
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(_temp.Root, "pi0_lerobot_g1", "lerobot", "config.json")))!;
        Assert.Equal(keys, saved["input_features"]!.AsObject().Where(f => f.Value!["type"]!.GetValue<string>() == "VISUAL").Select(f => f.Key));
    }

    [Fact]
    public async Task A_missing_video_stops_training_before_anything_is_written()
    {
        string root = _temp.Copy(Sample, "copy");
        string video = Path.Combine(root, "videos", "chunk-000", "observation.images.cam_high", "episode_000042.mp4");
        File.Delete(video);
        var result = await VlaProcess.RunAsync("train", "--config", Config(root));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{video}, column 'observation.images.cam_high': the video of episode 42 is missing.", result.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_temp.Root, "lerobot_g1")));
    }
}
