namespace Vla.Tests.Commands;

public class DiagnoseCommandTests
{
    [Fact]
    public async Task Diagnose_reports_versions_devices_and_the_fix()
    {
        var result = await VlaProcess.RunAsync("diagnose");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("TorchSharp             0.107.0", result.Stdout);
        Assert.Contains("libtorch               2.10", result.Stdout);
        // TorchSharp-cpu on a machine without a GPU: the row must say so (a build that reports CUDA here is wrong).
        Assert.Matches(@"(?m)^cuda\s+(not available|available, [1-9]\d* device\(s\))$", result.Stdout);
        Assert.Contains("matmul check           ok", result.Stdout);
        Assert.Matches("libstdc\\+\\+ fix\\s+(applied|not needed)", result.Stdout);
    }

    [Fact]
    public async Task Processes_starting_together_on_an_empty_cache_both_load_TorchSharp()
    {
        string cache = Directory.CreateTempSubdirectory("vla-native-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["VLA_NATIVE_CACHE"] = cache };
            var runs = Enumerable.Range(0, 3).Select(_ => VlaProcess.RunAsync(["diagnose"], null, environment)).ToArray();
            var results = await Task.WhenAll(runs);
            Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr));
            Assert.All(results, r => Assert.Contains("matmul check           ok", r.Stdout));
            // At most one finished folder, and no staging folder left behind.
            Assert.True(Directory.GetDirectories(cache).Length <= 1);
            Assert.Empty(Directory.GetDirectories(cache, ".*"));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
