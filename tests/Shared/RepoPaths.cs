namespace Vla.Tests;

/// <summary>Where the repository's own files are, from a test's output folder.</summary>
internal static class RepoPaths
{
    /// <summary>The repository root (the folder holding Vla.sln).</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vla.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Vla.sln not found above the test folder.");
    }
}
