using System.Globalization;
using System.Text.RegularExpressions;
using Vla.Checkpoints;
using Vla.Model.Weights;

namespace Vla.Tests.Commands;

/// <summary><c>--dtype</c> and <c>--device</c> on the command line, on the sample configuration.</summary>
public sealed class PrecisionCommandTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-precision-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_sample_trained_3_epochs_in_bfloat16_ends_within_10_percent_of_float32_and_saves_a_BF16_backbone()
    {
        string config = VlaProcess.SampleConfig(_temp.Root, ("epochs: 20", "epochs: 3"));
        var mse = new Dictionary<string, double>();
        foreach (var dtype in new[] { "float32", "bfloat16" })
        {
            var run = await VlaProcess.RunAsync(["train", "--config", config, "--dtype", dtype, "--experiment-name", dtype], VlaProcess.RepoRoot);
            Assert.True(run.ExitCode == 0, run.Stderr);
            mse[dtype] = double.Parse(Regex.Match(run.Stdout, @"Validation: sampled-chunk MSE ([0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
            var weights = SafetensorsFile.Open(Path.Combine(_temp.Root, dtype, "checkpoints", "model_best", CheckpointFiles.Model)).Entries;
            Assert.Equal(dtype == "bfloat16", weights.Any(e => e.Dtype == "BF16"));
            if (dtype == "bfloat16") Assert.All(weights.Where(e => e.Name.StartsWith("backbone.", StringComparison.Ordinal)), e => Assert.Equal("BF16", e.Dtype));
        }
        double difference = Math.Abs(mse["bfloat16"] - mse["float32"]) / mse["float32"];
        Assert.True(difference < 0.10, $"validation MSE float32 {mse["float32"]:G4}, bfloat16 {mse["bfloat16"]:G4}: {100 * difference:F1} % apart");
    }

    [Fact]
    public async Task Asking_this_cpu_build_for_cuda_exits_2_naming_cuda()
    {
        string config = VlaProcess.SampleConfig(_temp.Root);
        var train = await VlaProcess.RunAsync(["train", "--config", config, "--device", "cuda"], VlaProcess.RepoRoot);
        Assert.Equal(2, train.ExitCode);
        Assert.Contains("training.device is cuda, but CUDA is not available here", train.Stderr);
        Assert.DoesNotContain("   at ", train.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_temp.Root, "sample")), "nothing is written before the device is known");

        var gpu = await VlaProcess.RunAsync("diagnose", "--gpu");
        Assert.Equal(2, gpu.ExitCode);
        Assert.Contains("CUDA is not available", gpu.Stderr);
    }

    [Fact]
    public void A_dtype_that_does_not_exist_is_refused()
    {
        var parse = Vla.Cli.VlaCommandLine.Create().Parse(["train", "--config", Path.Combine(VlaProcess.RepoRoot, "configs", "sample.yaml"), "--dtype", "torch.bfloat16"]);
        Assert.Equal("torch.bfloat16", Vla.Cli.Commands.TrainCommand.Overridden(parse).Model.VlmConfig.Dtype);
        var e = Assert.Throws<Vla.Runtime.BadInputException>(() => Vla.Model.ModelDtype.Parse("int8", "dtype"));
        Assert.Equal("dtype must be float32, bfloat16 or float16 (got 'int8').", e.Message);
    }
}
