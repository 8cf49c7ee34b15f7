using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Where one model's dropout layers take their masks from. Inside a training step (<see cref="Use"/>), sample g of the global
/// batch gets, at the c-th dropout call, a mask drawn on the input's device by a generator seeded from (the step's seed, c, g).
/// So N ranks drop exactly what one process drops, each rank draws only its own samples' masks, the masks do not depend on
/// how a rank padded its prompts, and a resumed run repeats them, because the step's seed is one draw from the trainer's
/// checkpointed generator. torch's dropout draws from the process-wide generator instead: the same masks on every rank, and
/// a stream no checkpoint holds. Outside a training step this is torch's dropout. Owned by the model and shared by its
/// dropout layers: two models never see each other's steps.
/// </summary>
public sealed class DropoutMasks
{
    /// <summary>
    /// A training step's masks: its seed (drawn by <paramref name="drawSeed"/> at the first dropout call, so a model without
    /// dropout draws nothing), the global batch size and this rank's first sample in it; counts the dropout calls.
    /// </summary>
    public sealed class Source(Func<long> drawSeed, int globalBatch, int offset, int localBatch)
    {
        private long? _seed;
        /// <summary>The step's seed, the same on every rank.</summary>
        public long Seed => _seed ??= drawSeed();
        /// <summary>Samples in the global batch.</summary>
        public int GlobalBatch { get; } = globalBatch;
        /// <summary>This rank's first sample in the global batch.</summary>
        public int Offset { get; } = offset;
        /// <summary>This rank's samples.</summary>
        public int LocalBatch { get; } = localBatch;
        /// <summary>Dropout calls made so far in this step (a recomputed layer sets it back to repeat its masks).</summary>
        public int Calls { get; set; }
    }

    /// <summary>The running training step's masks, or null outside a step.</summary>
    public Source? Current { get; private set; }

    /// <summary>Draws this step's masks from <paramref name="source"/> until disposed.</summary>
    public IDisposable Use(Source source)
    {
        if (Current is not null) throw new InvalidOperationException("A training step's dropout masks are already in use.");
        Current = source;
        return new Release(this);
    }

    private sealed class Release(DropoutMasks owner) : IDisposable
    {
        public void Dispose() => owner.Current = null;
    }

    /// <summary>
    /// Dropout of <paramref name="input"/>, whose leading dimension is the rank's samples or samples × k in sample-major
    /// order (SigLIP's samples × cameras).
    /// </summary>
    public Tensor Apply(Tensor input, double p, bool training)
    {
        if (!training || p == 0) return input.alias();
        if (Current is not { } source) return nn.functional.dropout(input, p, training: true);
        long leading = input.shape[0];
        if (leading % source.LocalBatch != 0)
            throw new InvalidOperationException($"Dropout input of {leading} rows is not a multiple of the {source.LocalBatch} samples of this step.");
        int call = source.Calls++;
        var perSample = (long[])input.shape.Clone();
        perSample[0] = leading / source.LocalBatch;
        using var scope = NewDisposeScope();
        var masks = new Tensor[source.LocalBatch];
        for (int i = 0; i < source.LocalBatch; i++)
        {
            using var generator = new Generator(SampleSeed(source.Seed, call, source.Offset + i), input.device);
            masks[i] = rand(perSample, ScalarType.Float32, input.device, generator: generator).ge_(p);
        }
        var keep = cat(masks, 0).to_type(input.dtype).mul_(1.0 / (1.0 - p));                   // (leading, …)
        return (input * keep).MoveToOuterDisposeScope();
    }

    /// <summary>A seed for sample <paramref name="sample"/> at call <paramref name="call"/> of the step seeded <paramref name="seed"/> (SplitMix64 mixing).</summary>
    internal static ulong SampleSeed(long seed, int call, int sample)
    {
        ulong z = unchecked((ulong)seed + 0x9E3779B97F4A7C15UL * (ulong)(call + 1) + 0xBF58476D1CE4E5B9UL * (ulong)(sample + 1));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
