using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>
/// libtorch's float32 matrix products under each setting it honours (MKL's instruction-set and CPU-type variables,
/// OpenMP thread placement, one thread) and with oneMKL's vendor check left as it is: every setting runs in a fresh process of its own (they are read when the
/// libraries load), the settings take turns round after round, and each is reported as the median of its rounds and as
/// its per-round ratio to the default. Shapes: a square 1024² product and the mid config's MLP projections
/// (8 × 528 tokens, 512 ↔ 2048), forward-sized.
/// </summary>
internal static class BlasOptionsBench
{
    private static readonly (string Name, string[] Environment)[] Options =
    [
        ("default (oneMKL's vendor check answered yes on AMD: Vla.Runtime.MklVendorCheck)", []),
        ("VLA_MKL_VENDOR_CHECK=keep (oneMKL's own choice)", [$"{Vla.Runtime.MklVendorCheck.Variable}=keep"]),
        ("MKL_ENABLE_INSTRUCTIONS=AVX512", ["MKL_ENABLE_INSTRUCTIONS=AVX512"]),
        ("MKL_ENABLE_INSTRUCTIONS=AVX2", ["MKL_ENABLE_INSTRUCTIONS=AVX2"]),
        ("MKL_DEBUG_CPU_TYPE=5", ["MKL_DEBUG_CPU_TYPE=5"]),
        ("OMP_PROC_BIND=close OMP_PLACES=cores", ["OMP_PROC_BIND=close", "OMP_PLACES=cores"]),
        ("MKL_DYNAMIC=FALSE", ["MKL_DYNAMIC=FALSE"]),
        ("VLA_THREADS=1", ["VLA_THREADS=1"]),
    ];

    private static readonly (string Name, int M, int K, int N)[] Shapes =
        [("1024²", 1024, 1024, 1024), ("mid MLP up 4224×512→2048", 4224, 512, 2048), ("mid MLP down 4224×2048→512", 4224, 2048, 512)];

    public static void Run(string repoRoot, bool quick)
    {
        int rounds = quick ? 3 : 5;
        BenchRecord.Merge(repoRoot, "blas", Compare(Options.ToList(), rounds), quick);
    }

    private static JsonObject Compare(List<(string Name, string[] Environment)> options, int rounds)
    {
        string self = Environment.ProcessPath!;
        string dll = typeof(BlasOptionsBench).Assembly.Location;
        Console.WriteLine($"float32 GFLOP/s, {rounds} rounds, each setting in its own process, settings in turn; MKL's own report of its code path:");
        Console.WriteLine($"  {MklReport(self, dll)}");
        var results = options.ToDictionary(o => o.Name, _ => Shapes.Select(_ => new List<double>()).ToArray());
        for (int round = 0; round < rounds; round++)
            foreach (var (name, env) in options)
            {
                var figures = Child(self, dll, env);
                for (int s = 0; s < Shapes.Length; s++) results[name][s].Add(figures[s]);
            }
        Console.WriteLine();
        Console.WriteLine($"| setting | {string.Join(" | ", Shapes.Select(s => s.Name))} |");
        Console.WriteLine($"|---|{string.Concat(Shapes.Select(_ => "---:|"))}");
        foreach (var (name, _) in options)
            Console.WriteLine($"| {name} | {string.Join(" | ", Enumerable.Range(0, Shapes.Length).Select(s => Cell(results[name][s], results[Options[0].Name][s])))} |");
        Console.WriteLine("\ncells: median GFLOP/s (median of the per-round ratios to the default, min–max)");
        return new JsonObject
        {
            ["rounds"] = rounds,
            ["gflops_median"] = new JsonObject(options.Select(o => KeyValuePair.Create(o.Name, (JsonNode?)new JsonObject(
                Shapes.Select((shape, s) => KeyValuePair.Create(shape.Name, (JsonNode?)Math.Round(Measure.Median([.. results[o.Name][s]]), 1))))))),
        };
    }

    private static string Cell(List<double> values, List<double> baseline)
    {
        var ratios = values.Zip(baseline, (v, b) => v / b).ToArray();
        return string.Create(CultureInfo.InvariantCulture, $"{Measure.Median([.. values]):F0} ({Measure.Median(ratios):F2}, {ratios.Min():F2}–{ratios.Max():F2})");
    }

    private static ProcessStartInfo Start(string self, string dll, string[] env, string part)
    {
        var start = new ProcessStartInfo(self, [dll, part]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var pair in env)
        {
            var (key, value) = (pair[..pair.IndexOf('=')], pair[(pair.IndexOf('=') + 1)..]);
            start.Environment[key] = value;
        }
        return start;
    }

    private static double[] Child(string self, string dll, string[] env)
    {
        using var process = Process.Start(Start(self, dll, env, "blas-child"))!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith('[')) ?? throw new InvalidOperationException($"blas-child printed no figures: {output}{process.StandardError.ReadToEnd()}");
        return JsonNode.Parse(line)!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
    }

    /// <summary>The first line MKL_VERBOSE=1 prints: its version and the instruction set it dispatched to.</summary>
    private static string MklReport(string self, string dll)
    {
        using var process = Process.Start(Start(self, dll, ["MKL_VERBOSE=1"], "blas-child"))!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output.Split('\n').FirstOrDefault(l => l.Contains("MKL_VERBOSE oneMKL", StringComparison.Ordinal))?.Trim() ?? "(MKL printed no version line)";
    }

    /// <summary>In the child: the GFLOP/s of each shape (median of 10 products after 3 unrecorded), as one JSON array.</summary>
    public static void RunChild() =>
        Console.WriteLine(new JsonArray(Shapes.Select(s => JsonValue.Create(Math.Round(CompareBench.MatmulGflops(s.M, s.K, s.N, runs: 10), 1))).ToArray<JsonNode?>()).ToJsonString());
}
