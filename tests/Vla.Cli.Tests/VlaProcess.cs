using System.Diagnostics;

namespace Vla.Tests;

/// <summary>Runs the built <c>vla</c> command as a separate process, as a user would.</summary>
internal static class VlaProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string RepoRoot => RepoPaths.Root;

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
    /// Runs <paramref name="args"/> and waits at most <paramref name="limit"/> for the job to end: a hang is what the tests
    /// using it catch (a failed rank leaving the others waiting), so a job still running then is killed and the test fails.
    /// </summary>
    public static async Task<(Result Result, TimeSpan Took)> RunBounded(string[] args, TimeSpan limit, IDictionary<string, string>? environment = null)
    {
        using var process = Start(args, null, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the job was still running after {limit.TotalSeconds:F0} s: a failed rank left the others waiting");
        }
        await process.WaitForExitAsync();
        return (new Result(process.ExitCode, await stdout, await stderr), watch.Elapsed);
    }

    /// <summary>
    /// Writes configs/sample.yaml into <paramref name="folder"/> with absolute data paths, runs under
    /// <paramref name="folder"/>, and the given text replacements applied; returns its path.
    /// </summary>
    public static string SampleConfig(string folder, params (string From, string To)[] replacements) => RepoConfig(folder, "sample.yaml", replacements);

    /// <summary><c>configs/<paramref name="name"/></c> written into <paramref name="folder"/> as <see cref="SampleConfig"/> writes sample.yaml.</summary>
    public static string RepoConfig(string folder, string name, params (string From, string To)[] replacements)
    {
        string text = File.ReadAllText(Path.Combine(RepoRoot, "configs", name))
            .Replace("../data-samples/", Path.Combine(RepoRoot, "data-samples") + "/")
            .Replace("checkpoint_dir: ./experiments", $"checkpoint_dir: {folder}");
        foreach (var (from, to) in replacements)
        {
            if (!text.Contains(from, StringComparison.Ordinal)) throw new ArgumentException($"{name} has no '{from}'.");
            text = text.Replace(from, to);
        }
        string path = Path.Combine(folder, $"{Path.GetFileNameWithoutExtension(name)}-test.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>
    /// The sample's first <paramref name="episodes"/> training episodes written to <c>folder/data/episodes.parquet</c>, with the main
    /// camera's frame at each of <paramref name="cut"/> replaced by a 320×240 JPEG of it cut to a third of its bytes, header intact
    /// (as an interrupted copy leaves it). Returns the file.
    /// </summary>
    public static string SampleWithCutFrames(string folder, int episodes, params (int Episode, int Step)[] cut)
    {
        var dataset = Vla.Data.EpisodeDataset.OpenAsync([Path.Combine(RepoRoot, "data-samples", "train")], new Vla.Data.DataOptions { VerifyImages = false }).GetAwaiter().GetResult();
        var rows = dataset.Episodes.Take(episodes).Select(e => (IReadOnlyList<Vla.Data.Seed.StepRow>)e.Steps.Select((s, t) =>
        {
            var image1 = dataset.Images.Get(s, 1)!;
            if (cut.Contains((e.Index, t))) image1 = CutJpeg(image1);
            return new Vla.Data.Seed.StepRow(image1, dataset.Images.Get(s, 2), s.State, s.Action, s.IsFirst, s.IsLast, s.IsTerminal, s.Prompt);
        }).ToList()).ToList();
        string path = Path.Combine(folder, "data", "episodes.parquet");
        Vla.Data.Seed.SeedEpisodeWriter.WriteAsync(path, rows).GetAwaiter().GetResult();
        return path;
    }

    /// <summary>
    /// A SampleConfig replacement that validates on one episode instead of the sample's 15 (331 windows, 10 Euler steps
    /// each): tests that only need a validation pass to happen stay short on a loaded machine.
    /// </summary>
    public static (string From, string To) OneValidationEpisode(string folder) =>
        (Path.Combine(RepoRoot, "data-samples", "val"), SampleWithCutFrames(Path.Combine(folder, "val-one"), episodes: 1));

    /// <summary>Writes a float32 .npy of <paramref name="shape"/> (values from a fixed sequence) as numpy.save does.</summary>
    public static string Npy(string path, int[] shape)
    {
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}), }}";
        int padded = (dict.Length + 11) / 64 * 64 + 64;
        string header = dict.PadRight(padded - 10 - 1) + "\n";
        using var file = new BinaryWriter(File.Create(path));
        file.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
        file.Write((ushort)header.Length);
        file.Write(System.Text.Encoding.Latin1.GetBytes(header));
        int count = shape.Aggregate(1, (a, b) => a * b);
        for (int i = 0; i < count; i++) file.Write((float)Math.Sin(i * 0.7));
        return path;
    }

    /// <summary>The sample's first frame (a 64×64 PNG).</summary>
    public static byte[] SamplePng()
    {
        var dataset = Vla.Data.EpisodeDataset.OpenAsync([Path.Combine(RepoRoot, "data-samples", "val")], new Vla.Data.DataOptions { VerifyImages = false }).GetAwaiter().GetResult();
        return dataset.Images.Get(dataset.Episodes[0].Steps[0], 1)!;
    }

    private static byte[] CutJpeg(byte[] png)
    {
        using var image = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(png);
        SixLabors.ImageSharp.Processing.ProcessingExtensions.Mutate(image, x => SixLabors.ImageSharp.Processing.ResizeExtensions.Resize(x, 320, 240));
        using var stream = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsJpeg(image, stream);
        return stream.ToArray()[..(int)(stream.Length / 3)];
    }

    /// <summary>
    /// Starts <paramref name="args"/>, sends SIGTERM once the output shows training step <paramref name="afterStep"/> (a
    /// multiple of the log interval), and returns the result with the time from the signal to the exit (at most
    /// <paramref name="limit"/>: a process still running then is killed and the test fails).
    /// </summary>
    public static async Task<(Result Result, TimeSpan Stopping)> TerminateDuringTraining(string[] args, int afterStep, TimeSpan limit)
    {
        using var process = Start(args);
        var stdout = new System.Text.StringBuilder();
        var stderr = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(180);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            lock (stdout) if (stdout.ToString().Contains($" step {afterStep}:", StringComparison.Ordinal)) break;
            await Task.Delay(100);
        }
        Assert.False(process.HasExited, "training ended before the signal: " + stderr);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!) kill.WaitForExit();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"still running {limit.TotalSeconds:F0} s after SIGTERM");
        }
        var stopping = watch.Elapsed;
        process.WaitForExit();
        lock (stdout) lock (stderr) return (new Result(process.ExitCode, stdout.ToString(), stderr.ToString()), stopping);
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
