using TorchSharp;
using Vla.Runtime;

namespace Vla.Tests.Runtime;

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
        var status = TorchRuntime.Status;
        string? host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (host is null || status.OriginalPath is null) return;
        var defined = ElfVersionNeeds.Load(host).Definitions.ToHashSet();
        bool hostLacks = ElfVersionNeeds.Load(status.OriginalPath).Needs
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
        var status = TorchRuntime.Status;
        if (status.OriginalPath is null) return;
        Assert.DoesNotContain(ElfVersionNeeds.Load(status.OriginalPath).Needs, n => n.IsWeak);
    }
}
