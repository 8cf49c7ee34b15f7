using System.Text.Json;
using Vla.Checkpoints;
using Vla.Model;

namespace Vla.Tests.Commands;

/// <summary><c>model.lora</c> and <c>vla export</c> on the sample, through the command line.</summary>
public sealed class LoraCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-lora-");

    public void Dispose() => _temp.Dispose();

    private string Frame(int camera) => VlaProcess.SampleFrame(_temp.Root, camera);

    private async Task<double[]> Predict(string checkpoint, string name)
    {
        string json = Path.Combine(_temp.Root, $"{name}.json");
        var result = await VlaProcess.RunAsync("predict", "--checkpoint", checkpoint, "--image1", Frame(1), "--image2", Frame(2),
            "--prompt", "pick up the red cube", "--state", "0.1", "0.2", "0.15", "0", "0", "0", "1", "--output", json, "--seed", "1");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var chunk = JsonDocument.Parse(File.ReadAllText(json));
        return chunk.RootElement.GetProperty("actions").EnumerateArray().SelectMany(row => row.EnumerateArray().Select(v => v.GetDouble())).ToArray();
    }

    [Fact]
    public async Task A_lora_run_saves_adapters_and_a_base_reference_its_merged_export_predicts_the_same_and_a_moved_base_exits_2()
    {
        // A copy of the sample backbone, so the test can move it away.
        string baseDir = Path.Combine(_temp.Root, "base");
        Directory.CreateDirectory(baseDir);
        foreach (var file in Directory.GetFiles(Path.Combine(VlaProcess.RepoRoot, "data-samples", "tiny-paligemma")))
            File.Copy(file, Path.Combine(baseDir, Path.GetFileName(file)));
        string config = VlaProcess.SampleConfig(_temp.Root, ("epochs: 20", "epochs: 1"),
            (Path.Combine(VlaProcess.RepoRoot, "data-samples", "tiny-paligemma"), baseDir),
            ("  vision_resampler_config:", "  lora:\n    rank: 4\n    alpha: 8\n  vision_resampler_config:"));
        var train = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "4", "--experiment-name", "lora"]);
        Assert.True(train.ExitCode == 0, train.Stdout + train.Stderr);
        string checkpoint = Path.Combine(_temp.Root, "lora", "checkpoints", "model_best");
        Assert.True(File.Exists(Path.Combine(checkpoint, LoraAdapters.WeightsFile)));
        Assert.True(File.Exists(Path.Combine(checkpoint, CheckpointFiles.BaseModel)));

        string merged = Path.Combine(_temp.Root, "merged");
        var export = await VlaProcess.RunAsync("export", "--checkpoint", checkpoint, "--output", merged, "--merge-lora");
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Contains("LoRA rank 4 merged into the base", export.Stdout);

        var fromCheckpoint = await Predict(checkpoint, "checkpoint");
        var fromExport = await Predict(merged, "export");
        Assert.Equal(fromCheckpoint.Length, fromExport.Length);
        double worst = fromCheckpoint.Zip(fromExport, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-4, $"the merged export predicts up to {worst:G3} apart (data units)");

        Directory.Move(baseDir, baseDir + "-moved");
        var moved = await VlaProcess.RunAsync("predict", "--checkpoint", checkpoint, "--image1", Frame(1), "--image2", Frame(2),
            "--prompt", "x", "--state", "0", "0", "0", "0", "0", "0", "0");
        Assert.Equal(2, moved.ExitCode);
        Assert.Contains(baseDir, moved.Stderr);
        Assert.Contains("does not exist", moved.Stderr);
        Assert.DoesNotContain("   at ", moved.Stderr);
        Assert.Equal(fromExport, await Predict(merged, "export-again")); // the export needs nothing else
    }

    [Fact]
    public async Task A_lora_target_that_names_no_module_exits_2_naming_it()
    {
        string config = VlaProcess.SampleConfig(_temp.Root, ("  vision_resampler_config:", "  lora:\n    rank: 4\n    target_modules: [q_proj, gate]\n  vision_resampler_config:"));
        var train = await VlaProcess.RunAsync(["train", "--config", config, "--max-steps", "1"]);
        Assert.Equal(2, train.ExitCode);
        Assert.Contains("model.lora.target_modules: 'gate' names no projection of the backbone.", train.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_temp.Root, "sample", "checkpoints")), "nothing is saved");
    }
}
