using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>Averages gradients across the ranks of a data-parallel job.</summary>
public static class GradientAverager
{
    /// <summary>PyTorch DDP's default bucket size, in megabytes (<c>training.ddp_bucket_mb</c>).</summary>
    public const double DefaultBucketMb = 25;

    /// <summary>
    /// All-reduces the gradients (zeros for a parameter without one) in buckets of about <paramref name="bucketMb"/>
    /// megabytes of float32, last parameters first as DDP orders them (the order backward produces them), divides by the
    /// world size and writes them back (rounding to a half-precision gradient's dtype). Only one bucket's packed copy
    /// exists at a time, instead of one copy of every gradient; a bucket of one contiguous float32 gradient is reduced
    /// in place. Returns the number of buckets.
    /// </summary>
    public static int Average(IReadOnlyList<Parameter> parameters, IProcessGroup group, double bucketMb = DefaultBucketMb)
    {
        long capacity = Math.Max(1, (long)(bucketMb * 1024 * 1024 / sizeof(float)));
        int buckets = 0;
        var bucket = new List<Parameter>();
        long filled = 0;
        for (int i = parameters.Count - 1; i >= 0; i--)
        {
            var p = parameters[i];
            if (bucket.Count > 0 && filled + p.numel() > capacity)
            {
                Reduce(bucket, group);
                buckets++;
                bucket.Clear();
                filled = 0;
            }
            bucket.Add(p);
            filled += p.numel();
        }
        if (bucket.Count > 0)
        {
            Reduce(bucket, group);
            buckets++;
        }
        return buckets;
    }

    private static void Reduce(List<Parameter> bucket, IProcessGroup group)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var p in bucket) p.grad ??= zeros_like(p).DetachFromDisposeScope();
        if (bucket.Count == 1 && bucket[0].grad!.dtype == ScalarType.Float32 && bucket[0].grad!.is_contiguous())
        {
            group.AllReduceSum(bucket[0].grad!);
            bucket[0].grad!.div_(group.WorldSize);
            return;
        }
        var flat = cat(bucket.Select(p => p.grad!.reshape(-1).to_type(ScalarType.Float32)).ToArray()).contiguous();
        group.AllReduceSum(flat);
        flat.div_(group.WorldSize);
        long offset = 0;
        foreach (var p in bucket)
        {
            long n = p.numel();
            p.grad!.copy_(flat.narrow(0, offset, n).view(p.shape));
            offset += n;
        }
    }
}
