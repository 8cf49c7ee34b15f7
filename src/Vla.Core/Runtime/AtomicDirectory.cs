using System.Runtime.InteropServices;

namespace Vla.Runtime;

/// <summary>
/// Publishes a fully written folder under its final name in one step, so a crash or a power loss at any moment
/// leaves either the old folder or the new one, never a half-written one where a good one was: every file and
/// folder in it is flushed to the disk before the swap, and the parent's entries after it.
/// </summary>
public static partial class AtomicDirectory
{
    private const uint RenameExchange = 2; // RENAME_EXCHANGE
    private const int AtFdCwd = -100;

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    /// <summary>Moves the finished folder <paramref name="staging"/> to <paramref name="target"/>, replacing it atomically when it exists.</summary>
    public static void Publish(string staging, string target)
    {
        foreach (var file in Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories)) AtomicFile.Sync(file);
        foreach (var folder in Directory.EnumerateDirectories(staging, "*", SearchOption.AllDirectories)) AtomicFile.Sync(folder);
        AtomicFile.Sync(staging);
        string parent = Path.GetDirectoryName(Path.GetFullPath(target))!;
        Swap(staging, target);
        AtomicFile.Sync(parent);
    }

    private static void Swap(string staging, string target)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        // Swap both names in one system call (Linux 3.15+), then remove the old contents now under the staging name.
        if (OperatingSystem.IsLinux() && RenameAt2(AtFdCwd, Path.GetFullPath(staging), AtFdCwd, Path.GetFullPath(target), RenameExchange) == 0)
        {
            Directory.Delete(staging, recursive: true);
            return;
        }
        string old = target + $".old-{Environment.ProcessId}";
        Directory.Move(target, old);
        Directory.Move(staging, target);
        Directory.Delete(old, recursive: true);
    }
}
