using System.Globalization;

namespace Vla.Runtime;

/// <summary>The memory mappings of this process (<c>/proc/self/maps</c>): which native files are loaded, and where.</summary>
internal static class ProcessMaps
{
    /// <summary>One mapping: its address range, whether it is writable, its offset in the file, and the file (null for anonymous memory).</summary>
    public sealed record Mapping(ulong From, ulong To, bool Writable, ulong Offset, string? Path)
    {
        public string? FileName => Path is null ? null : System.IO.Path.GetFileName(Path);
    }

    /// <summary>Every mapping, in address order; none off Linux.</summary>
    public static IEnumerable<Mapping> Read()
    {
        if (!OperatingSystem.IsLinux()) yield break;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            // "from-to perms offset dev inode   path": the path, when there is one, starts at the first slash.
            var f = line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
            var span = f[0].Split('-');
            int slash = line.IndexOf('/');
            yield return new Mapping(ulong.Parse(span[0], NumberStyles.HexNumber), ulong.Parse(span[1], NumberStyles.HexNumber), f[1][1] == 'w',
                ulong.Parse(f[2], NumberStyles.HexNumber), slash < 0 ? null : line[slash..]);
        }
    }
}
