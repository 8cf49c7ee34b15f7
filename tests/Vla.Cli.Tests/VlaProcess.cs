using System.Diagnostics;

namespace Vla.Tests;

/// <summary>Runs the built <c>vla</c> command as a separate process, as a user would.</summary>
internal static class VlaProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vla.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Vla.sln not found above the test folder.");
        }
    }

    public static Process Start(IEnumerable<string> args, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vla.dll"));
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment["NO_COLOR"] = "1";
        info.Environment["COLUMNS"] = "200";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        return Process.Start(info)!;
    }

    public static async Task<Result> RunAsync(IEnumerable<string> args, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        using var process = Start(args, workingDirectory, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static Task<Result> RunAsync(params string[] args) => RunAsync(args, null, null);

    /// <summary>
    /// Writes configs/sample.yaml into <paramref name="folder"/> with absolute data paths, runs under
    /// <paramref name="folder"/>, and the given text replacements applied; returns its path.
    /// </summary>
    public static string SampleConfig(string folder, params (string From, string To)[] replacements)
    {
        string text = File.ReadAllText(Path.Combine(RepoRoot, "configs", "sample.yaml"))
            .Replace("../data-samples/", Path.Combine(RepoRoot, "data-samples") + "/")
            .Replace("checkpoint_dir: ./experiments", $"checkpoint_dir: {folder}");
        foreach (var (from, to) in replacements)
        {
            if (!text.Contains(from, StringComparison.Ordinal)) throw new ArgumentException($"sample.yaml has no '{from}'.");
            text = text.Replace(from, to);
        }
        string path = Path.Combine(folder, "sample-test.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Camera <paramref name="camera"/>'s first frame of the sample's first validation episode, written as a PNG into <paramref name="folder"/>.</summary>
    public static string SampleFrame(string folder, int camera)
    {
        var dataset = Vla.Data.EpisodeDataset.OpenAsync([Path.Combine(RepoRoot, "data-samples", "val")], new Vla.Data.DataOptions()).GetAwaiter().GetResult();
        string path = Path.Combine(folder, $"camera{camera}.png");
        File.WriteAllBytes(path, dataset.Images.Get(dataset.Episodes[0].Steps[0], camera)!);
        return path;
    }
}
