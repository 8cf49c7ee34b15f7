using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Runtime;

namespace Vla.Bench;

/// <summary>
/// <c>bench/results/latest.json</c>: one section per part (<c>compare</c>, <c>data</c>, <c>serve</c>, …), each stamped with
/// its date, commit, command, mode and processor. A part replaces its own section and keeps every other part's; the file
/// is written aside and renamed (<see cref="AtomicFile"/>), so a run that fails leaves the last good record.
/// </summary>
internal static class BenchRecord
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The record's path in the repository.</summary>
    public static string PathIn(string repoRoot) => Path.Combine(repoRoot, "bench", "results", "latest.json");

    /// <summary>The record as it is now (empty when there is none).</summary>
    public static JsonObject Read(string repoRoot)
    {
        string path = PathIn(repoRoot);
        return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path))!.AsObject() : new JsonObject();
    }

    /// <summary>
    /// Writes <paramref name="figures"/> as the section <paramref name="part"/>, stamped with where and how it was measured
    /// (the benchmark's verb is <paramref name="verb"/>, the part's name unless given; a part run under mpirun with
    /// <paramref name="ranks"/> &gt; 1 is stamped with that launch, and its machine line gives one rank's cores, which Open MPI
    /// binds), leaving every other section as it was.
    /// </summary>
    public static void Merge(string repoRoot, string part, JsonObject figures, bool quick, string? verb = null, int ranks = 1)
    {
        string arguments = $"{verb ?? part}{(quick ? " --quick" : "")}";
        var section = new JsonObject
        {
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
            ["commit"] = Commit(repoRoot),
            ["command"] = ranks > 1
                ? $"mpirun --allow-run-as-root -np {ranks} -x TERM=dumb dotnet bench/Vla.Bench/bin/Release/net10.0/Vla.Bench.dll {arguments}"
                : $"dotnet run --project bench/Vla.Bench -c Release -- {arguments}",
            ["mode"] = quick ? "quick" : "full",
            ["machine"] = $"{Host.Summary()}{(ranks > 1 ? " per rank" : "")}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}",
            ["processor"] = Host.Processor(),
        };
        foreach (var (key, value) in figures.ToList())
        {
            figures.Remove(key);
            section[key] = value;
        }
        var record = Read(repoRoot);
        record[part] = section;
        string path = PathIn(repoRoot);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteAllText(path, record.ToJsonString(Indented) + "\n");
        Console.WriteLine($"written: {path} ({part})");
    }

    /// <summary>The short hash of the commit measured, with "+changes" when the working tree differs from it.</summary>
    private static string Commit(string repoRoot)
    {
        string Git(params string[] args)
        {
            using var process = Process.Start(new ProcessStartInfo("git", ["-C", repoRoot, .. args]) { RedirectStandardOutput = true })!;
            string output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return output;
        }
        string hash = Git("rev-parse", "--short", "HEAD");
        return Git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench/Vla.Bench").Length > 0 ? hash + "+changes" : hash;
    }
}
