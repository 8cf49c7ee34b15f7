namespace Vla.Data.Loading;

/// <summary>
/// The order of a dataset's windows in each epoch and this rank's part of it, as torch's <c>DistributedSampler</c>: the
/// order depends only on the seed and the epoch; training cuts each global batch of <c>batch size × world size</c> windows
/// into contiguous, equal slices, one a rank, so N ranks see exactly the batches one process sees; evaluation deals
/// windows out in turn (<see cref="LoaderOptions.StridedShards"/>) and drops none.
/// </summary>
/// <param name="windows">Every window of the dataset.</param>
/// <param name="options">Batch size, shuffling, seed, rank and world size.</param>
public sealed class EpochSampler(IReadOnlyList<Window> windows, LoaderOptions options)
{
    /// <summary>Every window of the dataset, in dataset order.</summary>
    public IReadOnlyList<Window> Windows { get; } = windows;

    /// <summary>The order of all windows in <paramref name="epoch"/> (before sharding).</summary>
    public Window[] EpochOrder(int epoch)
    {
        var order = Windows.ToArray();
        // A seeded System.Random is stable across runs and platforms (HashCode is not: it is salted per process).
        if (options.Shuffle) new Random(unchecked(options.Seed * 1_000_003 + epoch) & int.MaxValue).Shuffle(order);
        return order;
    }

    /// <summary>
    /// This rank's windows of an epoch, grouped into batches: each global batch is cut into contiguous slices, one per rank,
    /// as equal as possible (<see cref="Slice"/>); so the last, smaller global batch is shared too. A last global batch with
    /// fewer windows than ranks is dropped.
    /// </summary>
    public List<Window[]> EpochBatches(int epoch)
    {
        var order = EpochOrder(epoch);
        if (options.StridedShards)
            return order.Where((_, i) => i % options.WorldSize == options.Rank).Chunk(options.BatchSize).ToList();
        int global = options.BatchSize * options.WorldSize;
        var batches = new List<Window[]>();
        for (int start = 0; start < order.Length; start += global)
        {
            int count = Math.Min(global, order.Length - start);
            if (count < global && options.DropLast) break;
            if (count < options.WorldSize) break;
            var (offset, length) = Slice(count, options.Rank, options.WorldSize);
            batches.Add(order.AsSpan(start + offset, length).ToArray());
        }
        return batches;
    }

    /// <summary>Rank <paramref name="rank"/>'s contiguous part of <paramref name="count"/> windows: the first <c>count % world</c> ranks take one more.</summary>
    public static (int Offset, int Length) Slice(int count, int rank, int world)
    {
        int size = count / world, extra = count % world;
        return (rank * size + Math.Min(rank, extra), size + (rank < extra ? 1 : 0));
    }

    /// <summary>Number of batches this rank sees per epoch (the same every epoch).</summary>
    public int BatchesPerEpoch => _batchesPerEpoch ??= EpochBatches(0).Count;

    private int? _batchesPerEpoch;
}
