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

    private static bool IntelOrNotX64Linux() =>
        !OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64
        || File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("vendor_id", StringComparison.Ordinal) && l.Contains("GenuineIntel"));

    [Fact]
    public async Task Diagnose_says_what_was_done_with_oneMKLs_vendor_check_and_keep_leaves_it()
    {
        var result = await VlaProcess.RunAsync("diagnose");
        Assert.Equal(0, result.ExitCode);
        // This project's machines are AMD EPYC with AVX2: there the check is answered yes; on Intel it is not needed.
        Assert.Matches(IntelOrNotX64Linux() ? @"oneMKL vendor check\s+not needed" : @"oneMKL vendor check\s+answered yes on this \S+ processor", result.Stdout);

        var kept = await VlaProcess.RunAsync(["diagnose"], null, new Dictionary<string, string> { ["VLA_MKL_VENDOR_CHECK"] = "keep" });
        Assert.Equal(0, kept.ExitCode);
        Assert.Contains("matmul check           ok", kept.Stdout);
        if (!IntelOrNotX64Linux()) Assert.Matches(@"oneMKL vendor check\s+left as it is \(VLA_MKL_VENDOR_CHECK=keep\)", kept.Stdout);
    }

    [Fact]
    public async Task Processes_starting_together_on_an_empty_cache_both_load_TorchSharp()
    {
        using var folder = new TempFolder("vla-native-");
        string cache = folder.Root;
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
    }
}
