using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Gemma's RMSNorm: <c>x · rsqrt(mean(x²) + eps) · (1 + w)</c>, computed in float32 whatever the model
/// dtype (the weight is stored as an offset from 1, so zeros are the identity).
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    /// <summary>Creates the norm over the last dimension of width <paramref name="dim"/>.</summary>
    public RmsNorm(long dim, double eps, ScalarType dtype = ScalarType.Float32) : base(nameof(RmsNorm))
    {
        weight = new Parameter(zeros(dim, dtype));
        _eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to_type(ScalarType.Float32);
        var normed = xf * (xf.pow(2).mean([-1], keepdim: true) + _eps).rsqrt();
        return (normed * (weight.to_type(ScalarType.Float32) + 1)).to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
