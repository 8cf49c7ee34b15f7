using Vla.Model;

namespace Vla.Data.Loading;

/// <summary>How the loader orders, splits and prefetches windows.</summary>
public sealed record LoaderOptions
{
    /// <summary>Windows per batch on this rank.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Decoding threads; 0 builds each batch on the consuming thread.</summary>
    public int NumWorkers { get; init; } = 2;
    /// <summary>Batches built ahead of the consumer (bounds memory).</summary>
    public int Prefetch { get; init; } = 4;
    /// <summary>Shuffle windows each epoch (with <see cref="Seed"/> + epoch).</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Seed of the per-epoch shuffle.</summary>
    public int Seed { get; init; }
    /// <summary>Drop a last batch smaller than <see cref="BatchSize"/>.</summary>
    public bool DropLast { get; init; }
    /// <summary>This process's rank (distributed runs read a disjoint shard).</summary>
    public int Rank { get; init; }
    /// <summary>Number of ranks sharing each epoch.</summary>
    public int WorldSize { get; init; } = 1;
    /// <summary>Largest decoded image accepted, in pixels.</summary>
    public long MaxImagePixels { get; init; } = 4096L * 4096;
    /// <summary>Where the batches' tensors go (the CPU when null); host buffers are copied there on the consuming thread.</summary>
    public TorchSharp.torch.Device? Device { get; init; }
    /// <summary>The policy's input transform: it tokenizes a batch's instructions on the decoding threads and makes the batch's input; none leaves batches without tokens.</summary>
    public PolicyTransform? Transform { get; init; }
    /// <summary>
    /// Evaluation sharding: rank r takes windows r, r + W, r + 2W, … and nothing is dropped (ranks may get
    /// one window more or less). Training sharding (false) cuts each global batch into equal slices.
    /// </summary>
    public bool StridedShards { get; init; }
    /// <summary>
    /// A frame that cannot be decoded masks its window out of the loss (counted in <see cref="BatchLoader.SkippedFrames"/>)
    /// instead of stopping the run; windows of frames found broken when the data was opened are left out altogether.
    /// </summary>
    public bool SkipBadFrames { get; init; }
}
