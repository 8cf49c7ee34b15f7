using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>Warm-up, repeated runs and the median: the small harness every benchmark here uses.</summary>
internal static class Measure
{
    /// <summary>Runs <paramref name="body"/> <paramref name="warmup"/> times unrecorded, then <paramref name="runs"/> times; returns seconds per run.</summary>
    public static double[] Seconds(Action body, int runs, int warmup = 1)
    {
        for (int i = 0; i < warmup; i++) body();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            body();
            times[i] = watch.Elapsed.TotalSeconds;
        }
        return times;
    }

    /// <summary>This process's peak resident memory (VmHWM), in GB.</summary>
    public static double PeakRssGb() => ProcStatusMb("VmHWM") / 1024.0;

    /// <summary>
    /// Runs <paramref name="phase"/> of a benchmark part in a fresh process of this benchmark (<c>Vla.Bench &lt;verb&gt; &lt;phase&gt;
    /// &lt;folder&gt;</c>), so its peak memory is its own; echoes its output and returns the JSON line it prints last.
    /// </summary>
    public static JsonObject Phase(string verb, string phase, string folder)
    {
        Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] phase {phase} …");
        var start = new ProcessStartInfo("dotnet", [typeof(Measure).Assembly.Location, verb, phase, folder]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string? last = null;
        while (process.StandardOutput.ReadLine() is string line)
        {
            Console.WriteLine($"  {line}");
            if (line.StartsWith('{')) last = line;
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || last is null) throw new InvalidOperationException($"{verb} {phase} failed (exit {process.ExitCode}).");
        return JsonNode.Parse(last)!.AsObject();
    }

    /// <summary>A size field of /proc/self/status (VmRSS, VmHWM, …), in MB.</summary>
    public static double ProcStatusMb(string field)
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return line is null ? double.NaN : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>Minor page faults of this process so far (field 10 of /proc/self/stat, counted after the command name).</summary>
    public static long MinorPageFaults() =>
        long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], System.Globalization.CultureInfo.InvariantCulture);

    public static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
