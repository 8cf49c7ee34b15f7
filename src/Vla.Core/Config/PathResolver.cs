using Microsoft.Extensions.FileSystemGlobbing;

namespace Vla.Config;

/// <summary>
/// Turns config paths into files. A relative path is looked up in the current directory first (as the
/// seed did), then beside the config file (so notebooks and other working directories still find it).
/// </summary>
public static class PathResolver
{
    /// <summary>The first existing file or folder <paramref name="path"/> names, or null.</summary>
    public static string? ResolveExisting(string path, string? baseDir)
    {
        foreach (var candidate in Candidates(path, baseDir))
            if (File.Exists(candidate) || Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        return null;
    }

    /// <summary>
    /// The Parquet files a pattern names, sorted: a file; a folder (every <c>*.parquet</c> below it); or
    /// a glob (<c>*</c>, <c>?</c>, <c>**</c>). Empty when nothing matches.
    /// </summary>
    public static List<string> ExpandParquet(string pattern, string? baseDir)
    {
        foreach (var candidate in Candidates(pattern, baseDir))
        {
            if (File.Exists(candidate)) return [Path.GetFullPath(candidate)];
            if (Directory.Exists(candidate))
                return Directory.EnumerateFiles(candidate, "*.parquet", SearchOption.AllDirectories)
                    .Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
            if (candidate.IndexOfAny(['*', '?']) >= 0)
            {
                var matches = Glob(candidate);
                if (matches.Count > 0) return matches;
            }
        }
        return [];
    }

    private static IEnumerable<string> Candidates(string path, string? baseDir)
    {
        path = ExpandHome(path);
        yield return path;
        if (!Path.IsPathRooted(path) && baseDir is not null) yield return Path.Combine(baseDir, path);
    }

    private static string ExpandHome(string path) =>
        path.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..])
            : path;

    private static List<string> Glob(string pattern)
    {
        string full = Path.GetFullPath(pattern);
        // The fixed folder part before the first wildcard is the search root.
        int wildcard = full.IndexOfAny(['*', '?']);
        string root = full[..(full.LastIndexOf(Path.DirectorySeparatorChar, wildcard) + 1)];
        if (!Directory.Exists(root)) return [];
        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddInclude(full[root.Length..]);
        return matcher.GetResultsInFullPath(root).Order(StringComparer.Ordinal).ToList();
    }
}
