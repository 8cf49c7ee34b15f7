using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Vla.Runtime;

/// <summary>
/// Makes TorchSharp's native library loadable on hosts whose libstdc++ is older than the one it was
/// linked against, before TorchSharp's first call.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> lists <c>GLIBCXX_3.4.32</c> among its needs (for one
/// symbol that no relocation uses), which Debian 12's GCC 12 libstdc++ does not define, so the loader
/// refuses the whole library. On such a host this class writes a copy whose unused, missing version
/// needs are marked weak into a per-user cache folder, next to links to libtorch's other native files
/// (so its <c>$ORIGIN</c> run path resolves), and loads it. TorchSharp then finds the library already
/// loaded by its soname. The package's own file is never touched, so rebuilds and restores cannot undo
/// or corrupt the fix. On hosts that provide every needed version nothing is written or loaded early.
/// </remarks>
public static class TorchRuntime
{
    private const string NativeFileName = "libLibTorchSharp.so";
    private static readonly Lock Gate = new();
    private static TorchRuntimeStatus? _status;

    /// <summary>Runs when Vla.Core is first used, so any TorchSharp call made through it finds a loadable library.</summary>
    // A library-level initializer is the point: hosts (notebooks, tests) may touch TorchSharp through
    // Vla.Core without calling any set-up method first.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void InitializeOnLoad() => Prepare();
#pragma warning restore CA2255

    /// <summary>The outcome of preparing the native library (prepares it on first access).</summary>
    public static TorchRuntimeStatus Status => Prepare();

    /// <summary>Prepares the native library once per process; never throws (failures are in the status).</summary>
    public static TorchRuntimeStatus Prepare()
    {
        lock (Gate)
        {
            if (_status is not null) return _status;
            try
            {
                _status = PrepareCore();
                // oneMKL settles its code path at its first call, so this comes before TorchSharp's first call too.
                MklVendorCheck.Apply(_status.OriginalPath is { } original ? FindLibTorchDirectory(original) : null);
            }
            catch (Exception e)
            {
                _status = new TorchRuntimeStatus(false, null, null, [], e.Message);
            }
            return _status;
        }
    }

    /// <summary>Throws a clear error when TorchSharp's native library cannot be made loadable here.</summary>
    public static void EnsureReady()
    {
        var status = Prepare();
        if (status.Error is not null)
            throw new VlaException($"TorchSharp's native library could not be prepared: {status.Error}");
    }

    private static TorchRuntimeStatus PrepareCore()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return new TorchRuntimeStatus(false, null, null, [], null);

        string? original = FindOriginal(typeof(TorchSharp.torch).Assembly.Location);
        if (original is null)
            return new TorchRuntimeStatus(false, null, null, [], null); // TorchSharp will report what it cannot find.

        var elf = ElfVersionNeeds.Load(original);
        var missing = MissingVersions(elf);
        if (missing.Count == 0)
            return new TorchRuntimeStatus(false, original, null, [], null);

        string libtorchDir = FindLibTorchDirectory(original)
            ?? throw new VlaException($"libtorch's native files (libtorch.so) were not found near {original}.");
        string patched = WritePatchedCopy(original, elf, missing, libtorchDir);
        NativeLibrary.Load(patched);
        return new TorchRuntimeStatus(true, original, patched, missing, null);
    }

    /// <summary>The versions <paramref name="elf"/> needs that its host libraries do not define, and no relocation uses.</summary>
    internal static List<string> MissingVersions(ElfVersionNeeds elf)
    {
        var missing = new List<string>();
        foreach (var group in elf.Needs.Where(n => !n.IsWeak).GroupBy(n => n.File))
        {
            string? hostPath = LoadedPath(group.Key);
            if (hostPath is null) continue;
            var defined = ElfVersionNeeds.Load(hostPath).Definitions.ToHashSet();
            foreach (var need in group.Where(n => !defined.Contains(n.Version)))
            {
                if (elf.RelocatedVersionIndices.Contains(need.Index))
                    throw new VlaException(
                        $"{group.Key} at {hostPath} lacks version {need.Version}, which TorchSharp really uses; install a newer {group.Key}.");
                missing.Add(need.Version);
            }
        }
        return missing;
    }

    /// <summary>TorchSharp's native library for the managed <c>TorchSharp.dll</c> at <paramref name="managed"/>, in a build folder or the NuGet cache.</summary>
    internal static string? FindOriginal(string? managed)
    {
        if (string.IsNullOrEmpty(managed)) return null;
        string dir = Path.GetDirectoryName(managed)!;
        string[] candidates =
        [
            Path.Combine(dir, "runtimes", "linux-x64", "native", NativeFileName), // build output
            Path.Combine(dir, NativeFileName),                                      // RID-specific publish
            Path.GetFullPath(Path.Combine(dir, "..", "..", "runtimes", "linux-x64", "native", NativeFileName)), // NuGet cache: lib/net6.0/
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>The folder holding libtorch.so for <paramref name="original"/>: beside it, on the host's probing paths, or in the NuGet cache.</summary>
    internal static string? FindLibTorchDirectory(string original)
    {
        var dirs = new List<string> { Path.GetDirectoryName(original)! };
        // From the NuGet cache (notebooks): <root>/torchsharp/<v>/runtimes/linux-x64/native → <root>/libtorch-*-linux-x64/<v>/runtimes/linux-x64/native.
        var packagesRoot = Directory.GetParent(original)?.Parent?.Parent?.Parent?.Parent?.Parent;
        if (packagesRoot is { Exists: true })
        {
            dirs.AddRange(packagesRoot.EnumerateDirectories("libtorch-*-linux-x64")
                .SelectMany(p => p.EnumerateDirectories())
                .OrderByDescending(v => v.Name, StringComparer.Ordinal)
                .Select(v => Path.Combine(v.FullName, "runtimes", "linux-x64", "native")));
        }
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string probing)
            dirs.AddRange(probing.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        return dirs.FirstOrDefault(d => File.Exists(Path.Combine(d, "libtorch.so")));
    }

    /// <summary>
    /// Writes (once per distinct original file) <c>cache/&lt;hash&gt;/libLibTorchSharp.so</c> with the
    /// missing needs marked weak, beside links to libtorch's files. The folder is built under a
    /// temporary name and renamed into place, so processes starting together never see half of it.
    /// </summary>
    private static string WritePatchedCopy(string original, ElfVersionNeeds elf, List<string> missing, string libtorchDir)
    {
        byte[] patched = elf.WithWeakNeeds(missing);
        var check = ElfVersionNeeds.Parse(patched);
        if (check.Needs.Any(n => missing.Contains(n.Version) && !n.IsWeak))
            throw new VlaException("the patched copy of libLibTorchSharp.so did not verify.");

        string key = Convert.ToHexString(SHA256.HashData(patched))[..16].ToLowerInvariant()
            + "-" + Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(libtorchDir)))[..8].ToLowerInvariant();
        string root = CacheRoot();
        string target = Path.Combine(root, key);
        string file = Path.Combine(target, NativeFileName);
        if (File.Exists(file)) return file;

        Directory.CreateDirectory(root);
        string staging = Path.Combine(root, $".{key}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            foreach (var lib in Directory.EnumerateFiles(libtorchDir))
            {
                string name = Path.GetFileName(lib);
                if (name == NativeFileName || !name.Contains(".so")) continue;
                File.CreateSymbolicLink(Path.Combine(staging, name), lib);
            }
            File.WriteAllBytes(Path.Combine(staging, NativeFileName), patched);
            Directory.Move(staging, target);
        }
        catch (IOException) when (File.Exists(file))
        {
            // Another process finished the same folder first; use theirs.
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        return file;
    }

    private static string CacheRoot()
    {
        string? overridden = Environment.GetEnvironmentVariable("VLA_NATIVE_CACHE");
        if (!string.IsNullOrEmpty(overridden)) return overridden;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string baseDir = !string.IsNullOrEmpty(xdg) ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseDir, "vla", "native");
    }

    /// <summary>The path of the library the loader resolves for <paramref name="soname"/>, or null.</summary>
    private static string? LoadedPath(string soname)
    {
        if (!NativeLibrary.TryLoad(soname, out _)) return null;
        return ProcessMaps.Read().FirstOrDefault(m => m.FileName is { } name && (name == soname || name.StartsWith(soname + ".", StringComparison.Ordinal)))?.Path;
    }
}
