using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Vla.Model;

/// <summary>
/// Dropout whose masks come from the training step's generator, drawn for the whole global batch and cut to this
/// rank's samples (as the flow noise is): N ranks then drop exactly what one process drops, each rank its own
/// samples' units, and a resumed run draws the masks the uninterrupted one drew, because the trainer checkpoints that
/// generator. torch's dropout draws from the process-wide generator instead: the same masks on every rank, and a
/// stream no checkpoint holds. Outside a training step (<see cref="Source"/> unset) this is torch's dropout.
/// </summary>
public sealed class BatchDropout : Module<Tensor, Tensor>
{
    /// <summary>A training step's masks: drawn from <paramref name="Generator"/> (host) for <paramref name="GlobalBatch"/> samples, rows <paramref name="Offset"/> … + <paramref name="LocalBatch"/> kept.</summary>
    public sealed record MaskSource(Generator Generator, int GlobalBatch, int Offset, int LocalBatch);

    /// <summary>The running training step's mask source (set by the trainer around forward and backward), or null.</summary>
    public static MaskSource? Source { get; set; }

    private readonly double _p;

    /// <summary>Drops each unit with probability <paramref name="p"/> while training, scaling the kept ones by 1 / (1 − p).</summary>
    public BatchDropout(double p) : base(nameof(BatchDropout))
    {
        _p = p;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => Apply(input, _p, training);

    /// <summary>
    /// Dropout of <paramref name="input"/>, whose leading dimension is the rank's samples or samples × k in sample-major
    /// order (SigLIP's samples × cameras).
    /// </summary>
    public static Tensor Apply(Tensor input, double p, bool training)
    {
        if (!training || p == 0) return input.alias();
        if (Source is not { } source) return functional.dropout(input, p, training: true);
        long leading = input.shape[0];
        if (leading % source.LocalBatch != 0)
            throw new InvalidOperationException($"Dropout input of {leading} rows is not a multiple of the {source.LocalBatch} samples of this step.");
        long perSample = leading / source.LocalBatch;
        var shape = (long[])input.shape.Clone();
        shape[0] = source.GlobalBatch * perSample;
        using var scope = NewDisposeScope();
        var keep = rand(shape, ScalarType.Float32, generator: source.Generator).ge(p)          // every rank draws the global mask …
            .narrow(0, source.Offset * perSample, leading);                                    // … and keeps its own samples' rows
        var mask = keep.to(input.dtype, input.device).mul_(1.0 / (1.0 - p));
        return (input * mask).MoveToOuterDisposeScope();
    }
}
