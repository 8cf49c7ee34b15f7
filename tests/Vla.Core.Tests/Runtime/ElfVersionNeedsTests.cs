using Vla.Runtime;

namespace Vla.Tests.Runtime;

[Collection(ProcessWide.Name)]
public class ElfVersionNeedsTests
{
    private static string TorchSharpNative =>
        TorchRuntime.Status.OriginalPath ?? throw new InvalidOperationException("libLibTorchSharp.so not found");

    [Fact]
    public void Reads_the_libstdcxx_version_needs_of_TorchSharps_native_library()
    {
        var elf = ElfVersionNeeds.Load(TorchSharpNative);
        var needs = elf.Needs.Where(n => n.File == "libstdc++.so.6").Select(n => n.Version).ToList();
        Assert.Contains("GLIBCXX_3.4.32", needs);
        Assert.Contains("GLIBCXX_3.4.30", needs);
        Assert.All(elf.Needs, n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void GLIBCXX_3_4_32_is_used_by_no_relocation_while_GLIBC_2_2_5_is()
    {
        var elf = ElfVersionNeeds.Load(TorchSharpNative);
        var unused = elf.Needs.Single(n => n.Version == "GLIBCXX_3.4.32");
        var used = elf.Needs.First(n => n.File == "libc.so.6" && n.Version == "GLIBC_2.2.5");
        Assert.DoesNotContain(unused.Index, elf.RelocatedVersionIndices);
        Assert.Contains(used.Index, elf.RelocatedVersionIndices);
    }

    [Fact]
    public void Weakening_changes_only_the_flags_of_the_named_need()
    {
        var original = File.ReadAllBytes(TorchSharpNative);
        var elf = ElfVersionNeeds.Parse(original);
        var patched = elf.WithWeakNeeds(["GLIBCXX_3.4.32"]);

        var need = elf.Needs.Single(n => n.Version == "GLIBCXX_3.4.32");
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        Assert.Equal([need.FlagsOffset], changed);
        var reparsed = ElfVersionNeeds.Parse(patched);
        Assert.True(reparsed.Needs.Single(n => n.Version == "GLIBCXX_3.4.32").IsWeak);
        Assert.Equal(1, reparsed.Needs.Count(n => n.IsWeak));
    }

    [Fact]
    public void Refuses_to_weaken_a_version_that_relocations_use()
    {
        var elf = ElfVersionNeeds.Load(TorchSharpNative);
        var e = Assert.Throws<InvalidOperationException>(() => elf.WithWeakNeeds(["GLIBC_2.2.5"]));
        Assert.Contains("used by a relocation", e.Message);
    }

    [Fact]
    public void Rejects_a_file_that_is_not_ELF()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Parse("not an elf file at all, just text"u8.ToArray()));
    }

    [Fact]
    public void Reads_the_version_definitions_of_the_host_libstdcxx()
    {
        string? host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (host is null) return; // not a Debian-style x64 host
        var defs = ElfVersionNeeds.Load(host).Definitions;
        Assert.Contains("GLIBCXX_3.4", defs);
        Assert.Contains("CXXABI_1.3", defs);
    }
}
