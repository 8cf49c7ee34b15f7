using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Vla.Model;

/// <summary>Dropout whose masks belong to the samples, not to the process (see <see cref="DropoutMasks"/>).</summary>
public sealed class BatchDropout : Module<Tensor, Tensor>
{
    private readonly double _p;
    private readonly DropoutMasks _masks;

    /// <summary>Drops each unit with probability <paramref name="p"/> while training, scaling the kept ones by 1 / (1 − p), with the model's <paramref name="masks"/>.</summary>
    public BatchDropout(double p, DropoutMasks masks) : base(nameof(BatchDropout))
    {
        _p = p;
        _masks = masks;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => _masks.Apply(input, _p, training);
}
