namespace Vla.Tests;

/// <summary>A test's own temporary folder, removed with everything in it when disposed: the one way tests make temporary files.</summary>
/// <param name="prefix">Starts the folder's name, so a leftover says which test made it.</param>
internal sealed class TempFolder(string prefix = "vla-test-") : IDisposable
{
    /// <summary>The folder.</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>A path inside the folder.</summary>
    public string PathOf(string name) => Path.Combine(Root, name);

    /// <summary>Copies every file under <paramref name="source"/> into the folder (into its <paramref name="name"/> when given); returns where the copy is.</summary>
    public string Copy(string source, string? name = null)
    {
        string root = name is null ? Root : PathOf(name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(root, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return root;
    }

    /// <summary>Removes the folder (a file still open elsewhere leaves it behind).</summary>
    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
