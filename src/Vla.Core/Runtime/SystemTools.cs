namespace Vla.Runtime;

/// <summary>Programs of the system the workbench drives (mpirun, ffmpeg), found on the PATH.</summary>
public static class SystemTools
{
    /// <summary>The full path of <paramref name="name"/> in the first PATH folder holding it, or null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
}
