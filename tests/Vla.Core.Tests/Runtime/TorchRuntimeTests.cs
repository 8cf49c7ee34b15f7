using TorchSharp;
using Vla.Runtime;

namespace Vla.Tests.Runtime;

[Collection(ProcessWide.Name)]
public class TorchRuntimeTests
{
    [Fact]
    public void TorchSharp_computes_after_Vla_Core_prepared_the_runtime()
    {
        Assert.True(TorchRuntime.Status.Ready, TorchRuntime.Status.Error);
        using var scope = torch.NewDisposeScope();
        var product = torch.ones(4, 5).matmul(torch.ones(5, 3));
        Assert.Equal(5f * 4 * 3, product.sum().item<float>());
    }

    [Fact]
    public void The_fix_applies_exactly_when_the_host_libstdcxx_lacks_a_needed_version()
    {
        var status = RequireLinuxX64Status();
        string? host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        Assert.True(host is not null, "no libstdc++.so.6 in /usr/lib/x86_64-linux-gnu or /lib/x86_64-linux-gnu, yet TorchSharp loaded");
        var defined = ElfVersionNeeds.Load(host!).Definitions.ToHashSet();
        bool hostLacks = ElfVersionNeeds.Load(status.OriginalPath!).Needs
            .Any(n => n.File == "libstdc++.so.6" && !defined.Contains(n.Version));
        Assert.Equal(hostLacks, status.FixApplied);
        if (status.FixApplied)
        {
            Assert.True(File.Exists(status.PatchedPath));
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(status.PatchedPath)!, "libtorch.so")));
            Assert.Contains("GLIBCXX_3.4.32", status.WeakenedVersions);
        }
    }

    [Fact]
    public void The_package_file_itself_is_never_modified()
    {
        var status = RequireLinuxX64Status();
        Assert.DoesNotContain(ElfVersionNeeds.Load(status.OriginalPath!).Needs, n => n.IsWeak);
    }

    /// <summary>The runtime status where the fix exists (Linux x64, skipped elsewhere), with TorchSharp's own library found.</summary>
    private static TorchRuntimeStatus RequireLinuxX64Status()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64,
            "the libstdc++ fix exists only on Linux x64");
        var status = TorchRuntime.Status;
        Assert.True(status.OriginalPath is not null, "TorchSharp's libLibTorchSharp.so was not found beside TorchSharp.dll");
        return status;
    }
}

[Collection(ProcessWide.Name)]
public class TorchRuntimeLocationTests
{
    private static string NuGetRoot => Environment.GetEnvironmentVariable("NUGET_PACKAGES")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    [Fact]
    public void Finds_the_native_library_and_libtorch_in_the_NuGet_cache_as_notebooks_load_them()
    {
        string managed = Path.Combine(NuGetRoot, "torchsharp", "0.107.0", "lib", "net8.0", "TorchSharp.dll");
        Assert.SkipUnless(File.Exists(managed), $"{managed} is not in the NuGet cache.");
        string? original = TorchRuntime.FindOriginal(managed);
        Assert.Equal(Path.Combine(NuGetRoot, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), original);
        string? libtorch = TorchRuntime.FindLibTorchDirectory(original!);
        Assert.NotNull(libtorch);
        Assert.StartsWith(Path.Combine(NuGetRoot, "libtorch-cpu-linux-x64"), libtorch);
    }

    [Fact]
    public void Finds_the_native_library_in_a_build_folder()
    {
        string managed = typeof(torch).Assembly.Location;
        Assert.Equal(Path.Combine(Path.GetDirectoryName(managed)!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), TorchRuntime.FindOriginal(managed));
    }
}
