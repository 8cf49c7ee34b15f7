using System.Text.Json;
using Vla.Config;
using Vla.Training;

namespace Vla.Tests.Commands;

public sealed class InferenceCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-infer-");

    public void Dispose() => _temp.Dispose();

    private string Frame(int camera) => VlaProcess.SampleFrame(_temp.Root, camera);

    [Fact]
    public async Task Eval_writes_metrics_predictions_log_and_report()
    {
        string output = Path.Combine(_temp.Root, "eval");
        var result = await VlaProcess.RunAsync("eval", "--checkpoint", SampleCheckpoint.Path, "--eval-data", "data-samples/val", "--output-dir", output, "--save-predictions", "--seed", "3");
        Assert.True(result.ExitCode == 0, result.Stderr);
        foreach (var file in new[] { "metrics.json", "predictions.csv", "inference_log.txt", "report.html" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var root = metrics.RootElement;
        Assert.Equal(331, root.GetProperty("num_windows").GetInt64());
        Assert.Equal(4, root.GetProperty("per_step").GetArrayLength());
        Assert.Equal(7, root.GetProperty("per_dim").GetArrayLength());
        foreach (var key in new[] { "mse", "mae", "mse_normalized", "mae_normalized", "accuracy", "baseline_mse", "baseline_mae" })
            Assert.True(root.GetProperty("overall").TryGetProperty(key, out _), key);
        Assert.True(root.GetProperty("datasets").TryGetProperty("data-samples/val", out _));
        Assert.StartsWith("episode,step,horizon_step,dim,predicted,truth", File.ReadLines(Path.Combine(output, "predictions.csv")).First());
        string html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("<svg", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://cdn", html);
    }

    [Fact]
    public async Task Predict_prints_a_chunk_and_writes_json()
    {
        string json = Path.Combine(_temp.Root, "chunk.json");
        var result = await VlaProcess.RunAsync("predict", "--checkpoint", SampleCheckpoint.Path, "--image1", Frame(1), "--image2", Frame(2),
            "--prompt", "pick up the red cube", "--state", "0.1", "0.2", "0.15", "0", "0", "0", "1", "--output", json, "--seed", "1");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("a6", result.Stdout);
        using var chunk = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(4, chunk.RootElement.GetProperty("horizon").GetInt32());
        Assert.Equal(7, chunk.RootElement.GetProperty("per_action_dim").GetInt32());
        Assert.Equal(4, chunk.RootElement.GetProperty("actions").GetArrayLength());
    }

    [Fact]
    public async Task Predict_runs_a_LeRobot_pi0_folder_from_given_noise()
    {
        string folder = Path.Combine(VlaProcess.RepoRoot, "tests", "golden", "pi0-tiny");
        string tokenizer = Path.Combine(VlaProcess.RepoRoot, "data-samples", "tiny-paligemma", "tokenizer.model");
        string noise = VlaProcess.Npy(Path.Combine(_temp.Root, "noise.npy"), [5, 8]);
        string[] Args(string output, params string[] more) =>
            ["predict", "--checkpoint", folder, "--image1", Frame(1), "--image2", Frame(2), "--prompt", "pick up the red cube",
             "--state", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "--output", output, .. more];
        string first = Path.Combine(_temp.Root, "a.json"), second = Path.Combine(_temp.Root, "b.json");
        var result = await VlaProcess.RunAsync(Args(first, "--noise", noise, "--tokenizer", tokenizer));
        Assert.True(result.ExitCode == 0, result.Stderr);
        using (var chunk = JsonDocument.Parse(File.ReadAllText(first)))
        {
            Assert.Equal(5, chunk.RootElement.GetProperty("horizon").GetInt32());
            Assert.Equal(6, chunk.RootElement.GetProperty("per_action_dim").GetInt32());
        }
        result = await VlaProcess.RunAsync(Args(second, "--noise", noise, "--tokenizer", tokenizer));
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(File.ReadAllText(first), File.ReadAllText(second));

        string narrow = VlaProcess.Npy(Path.Combine(_temp.Root, "narrow.npy"), [5, 6]);
        result = await VlaProcess.RunAsync(Args(second, "--noise", narrow, "--tokenizer", tokenizer));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {narrow}: the noise has shape (5, 6); this policy starts from (5, 8).", result.Stderr.Trim());
        result = await VlaProcess.RunAsync(Args(second));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("carries no tokenizer", result.Stderr);
        Assert.Contains("--tokenizer", result.Stderr);

        // A released folder without a tokenizer, written again as a complete LeRobot folder (tokenizer/ included): the same chunk.
        string rewritten = Path.Combine(_temp.Root, "rewritten");
        result = await VlaProcess.RunAsync("export", "--checkpoint", folder, "--format", "lerobot", "--tokenizer", tokenizer, "--output", rewritten);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.True(File.Exists(Path.Combine(rewritten, "tokenizer", "tokenizer.model")));
        string third = Path.Combine(_temp.Root, "c.json");
        result = await VlaProcess.RunAsync(["predict", "--checkpoint", rewritten, "--image1", Frame(1), "--image2", Frame(2), "--prompt", "pick up the red cube",
                                            "--state", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "--output", third, "--noise", noise]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(File.ReadAllText(first), File.ReadAllText(third));
        result = await VlaProcess.RunAsync("export", "--checkpoint", folder, "--tokenizer", tokenizer, "--output", Path.Combine(_temp.Root, "vla-format"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--format lerobot", result.Stderr);
    }

    [Fact]
    public async Task Predict_with_the_wrong_number_of_state_values_exits_2()
    {
        var result = await VlaProcess.RunAsync("predict", "--checkpoint", SampleCheckpoint.Path, "--image1", Frame(1), "--image2", Frame(2),
            "--prompt", "x", "--state", "1", "2");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: Observation 0: expected 7 state values (data.state_dim), got 2.", result.Stderr.Trim());
    }

    [Fact]
    public async Task Predict_with_an_unreadable_image_exits_2_naming_it()
    {
        string bad = Path.Combine(_temp.Root, "bad.png");
        File.WriteAllText(bad, "not an image");
        var result = await VlaProcess.RunAsync("predict", "--checkpoint", SampleCheckpoint.Path, "--image1", bad, "--image2", Frame(2), "--prompt", "x",
            "--state", "0", "0", "0", "0", "0", "0", "0");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: Image {bad}: the bytes are not a PNG or JPEG image.", result.Stderr.Trim());
    }

    [Fact]
    public async Task Eval_of_a_missing_checkpoint_exits_2()
    {
        var result = await VlaProcess.RunAsync("eval", "--checkpoint", "/nonexistent", "--eval-data", "data-samples/val", "--output-dir", _temp.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: Checkpoint folder /nonexistent does not exist.", result.Stderr.Trim());
    }

    [Fact]
    public async Task Replay_compares_naive_and_rtc_chunking_from_the_same_noise_and_writes_json()
    {
        string json = Path.Combine(_temp.Root, "replay.json");
        var result = await VlaProcess.RunAsync("replay", "--checkpoint", SampleCheckpoint.Path, "--data", "data-samples/val", "--episodes", "0:3",
            "--delay", "1", "--execute", "2", "--rtc", "--output", json);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("RTC / naive: mean jump", result.Stdout);
        using var replay = JsonDocument.Parse(File.ReadAllText(json));
        var modes = replay.RootElement.GetProperty("modes");
        Assert.Equal(["naive", "rtc"], modes.EnumerateArray().Select(m => m.GetProperty("mode").GetString()));
        Assert.Equal(3, replay.RootElement.GetProperty("episodes").GetArrayLength());
        Assert.All(modes.EnumerateArray(), m => Assert.True(m.GetProperty("mean_jump").GetDouble() > 0));
        // The first chunk is waited for and shares its noise, so both modes execute the same first steps (up to the float
        // rounding MKL's memory-dependent paths allow); the guided chunks that follow differ.
        double Gap(int step)
        {
            var naive = modes[0].GetProperty("executed")[0][step].EnumerateArray().Select(v => v.GetDouble());
            var rtc = modes[1].GetProperty("executed")[0][step].EnumerateArray().Select(v => v.GetDouble());
            return naive.Zip(rtc).Max(p => Math.Abs(p.First - p.Second));
        }
        Assert.True(Gap(0) < 1e-4, $"step 0 differs by {Gap(0)}");
        Assert.True(Gap(4) > 1e-3, $"step 4 differs by only {Gap(4)}");
    }

    [Fact]
    public async Task Replay_with_a_delay_the_horizon_cannot_cover_exits_2()
    {
        var result = await VlaProcess.RunAsync("replay", "--checkpoint", SampleCheckpoint.Path, "--data", "data-samples/val", "--delay", "2", "--execute", "3");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --delay 2 and --execute 3 do not fit a horizon of 4: a chunk must cover the 3 steps it runs plus the 2 it waits, " +
            "and the delay must be shorter than the interval (0 ≤ delay < execute ≤ horizon − delay).", result.Stderr.Trim());
    }
}
