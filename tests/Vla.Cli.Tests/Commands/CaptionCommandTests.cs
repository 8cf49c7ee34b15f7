using System.Text.Json;

namespace Vla.Tests.Commands;

public sealed class CaptionCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-caption-");

    public void Dispose() => _temp.Dispose();

    private string SampleImage()
    {
        // The first overhead frame of the sample data, extracted through the data layer.
        var dataset = Vla.Data.EpisodeDataset.OpenAsync([Path.Combine(VlaProcess.RepoRoot, "data-samples", "val")], new Vla.Data.DataOptions()).GetAwaiter().GetResult();
        string path = Path.Combine(_temp.Root, "frame.png");
        File.WriteAllBytes(path, dataset.Images.Get(dataset.Episodes[0].Steps[0], 1)!);
        return path;
    }

    [Fact]
    public async Task Caption_runs_on_the_committed_tiny_model_and_dumps_logits()
    {
        string logits = Path.Combine(_temp.Root, "logits.json");
        var result = await VlaProcess.RunAsync("caption", "--model-dir", "data-samples/tiny-paligemma", "--image", SampleImage(),
            "--prompt", "pick up the red cube", "--max-new-tokens", "4", "--dump-logits", logits);
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(logits));
        Assert.Equal(2, json.RootElement.GetProperty("prompt_ids")[0].GetInt64());
        Assert.InRange(json.RootElement.GetProperty("token_ids").GetArrayLength(), 1, 4);
        Assert.Equal(304, json.RootElement.GetProperty("first_step_logits").GetArrayLength());
    }

    [Fact]
    public async Task A_model_folder_with_a_misshaped_tensor_exits_2_naming_it()
    {
        string dir = Path.Combine(_temp.Root, "model");
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(Path.Combine(VlaProcess.RepoRoot, "data-samples", "tiny-paligemma")))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        // Claim a different vision width: every vision tensor now has the wrong shape.
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"intermediate_size\": 128", "\"intermediate_size\": 96"));
        var result = await VlaProcess.RunAsync("caption", "--model-dir", dir, "--image", SampleImage(), "--prompt", "x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("tensor 'vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight' has shape [128, 64] but the model expects [96, 64]", result.Stderr);
    }

    [Fact]
    public async Task A_missing_image_exits_2()
    {
        var result = await VlaProcess.RunAsync("caption", "--model-dir", "data-samples/tiny-paligemma", "--image", "/nonexistent.png", "--prompt", "x");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: Image /nonexistent.png does not exist.", result.Stderr.Trim());
    }
}
