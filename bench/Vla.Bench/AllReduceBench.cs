using System.Text.Json.Nodes;
using System.Diagnostics;
using Vla.Distributed;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>
/// All-reduce of float32 tensors through <see cref="MpiProcessGroup"/> at 1, 10 and 100 MB (run under
/// <c>mpirun -np 2</c>); compare with bench/mpi/allreduce_bound.c, the same call from C.
/// </summary>
internal static class AllReduceBench
{
    public static void Run(string repoRoot)
    {
        using var group = DistributedEnvironment.Create("mpi", TorchSharp.torch.CPU);
        var section = new JsonObject { ["ranks"] = group.WorldSize, ["rounds"] = 9 };
        foreach (long mb in new long[] { 1, 10, 100 })
        {
            using var scope = NewDisposeScope();
            var buffer = ones(mb * 1000 * 1000 / 4);
            var times = new List<double>();
            for (int round = 0; round < 11; round++)
            {
                group.Barrier();
                var watch = Stopwatch.StartNew();
                group.AllReduceSum(buffer);
                if (round >= 2) times.Add(watch.Elapsed.TotalSeconds);
            }
            double median = Measure.Median([.. times]);
            if (group.Rank == 0) Console.WriteLine($"| Vla MpiProcessGroup | {mb} MB | {median * 1e3:F2} ms | {mb / 1e3 / median:F2} GB/s |");
            section[$"{mb}_mb"] = new JsonObject { ["ms"] = Math.Round(median * 1e3, 2), ["gb_per_s"] = Math.Round(mb / 1e3 / median, 2) };
        }
        if (group.Rank == 0) BenchRecord.Merge(repoRoot, "allreduce", section, quick: false, ranks: group.WorldSize);
    }
}
