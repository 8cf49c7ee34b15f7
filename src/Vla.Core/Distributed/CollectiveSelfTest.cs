using System.Diagnostics;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>
/// The check behind <c>vla diagnose</c>'s distributed line (the seed's diagnose_ddp.py): every rank
/// all-reduces a known tensor and checks the sum, then times all-reduces of a 40 MB buffer.
/// </summary>
public static class CollectiveSelfTest
{
    /// <summary>Runs on every rank with tensors on <paramref name="device"/> (the CPU when null); returns a one-line verdict for this rank.</summary>
    public static string Run(IProcessGroup group, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var probe = full([1024], group.Rank + 1f, device: device);
        group.AllReduceSum(probe);
        float expected = group.WorldSize * (group.WorldSize + 1) / 2f;
        bool correct = probe.eq(expected).all().item<bool>();
        var payload = ones(10L << 20, device: device); // 40 MB of float32
        group.AllReduceSum(payload);   // warm-up
        group.Barrier();
        var watch = Stopwatch.StartNew();
        const int Repeats = 5;
        for (int i = 0; i < Repeats; i++) group.AllReduceSum(payload);
        double ms = watch.Elapsed.TotalMilliseconds / Repeats;
        return $"rank {group.Rank}/{group.WorldSize}: all-reduce {(correct ? "correct" : $"WRONG (expected {expected}, got {probe[0].item<float>()})")}, " +
               $"40 MB in {ms:F1} ms ({40 / ms:F2} GB/s), {group.Description}";
    }
}
