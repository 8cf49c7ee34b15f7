using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// A norm of the action expert: LeRobot's <c>PiGemmaRMSNorm</c>, computed in float32 and returned in the input's dtype. It
/// returns the normed tokens and, for the adaptive form, the gate its residual branch is multiplied by.
/// </summary>
public abstract class ExpertNorm(string name) : nn.Module(name)
{
    /// <summary>Normalizes <paramref name="x"/> (B, T, D), conditioned on <paramref name="condition"/> (B, C) where the norm is adaptive.</summary>
    public abstract (Tensor Normed, Tensor? Gate) forward(Tensor x, Tensor? condition);

    /// <summary><c>x · rsqrt(mean(x²) + eps)</c> in float32.</summary>
    protected static Tensor Normalize(Tensor x, double eps)
    {
        var xf = x.to_type(ScalarType.Float32);
        return xf * (xf.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
    }
}

/// <summary>Gemma's RMSNorm, <c>normed · (1 + w)</c>, with no gate (pi0's expert).</summary>
public sealed class ExpertRmsNorm : ExpertNorm
{
    private readonly Parameter weight;
    private readonly double _eps;

    /// <summary>A norm over width <paramref name="dim"/>; the zero weight is the identity scale.</summary>
    public ExpertRmsNorm(long dim, double eps) : base(nameof(ExpertRmsNorm))
    {
        weight = new Parameter(zeros(dim));
        _eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override (Tensor Normed, Tensor? Gate) forward(Tensor x, Tensor? condition)
    {
        using var scope = NewDisposeScope();
        return ((Normalize(x, _eps) * (weight.to_type(ScalarType.Float32) + 1)).to_type(x.dtype).MoveToOuterDisposeScope(), null);
    }
}

/// <summary>
/// Adaptive RMSNorm (pi0.5's expert): a dense layer of the condition gives scale, shift and gate, in that order;
/// <c>normed · (1 + scale) + shift</c>, and the gate multiplies the residual branch this norm feeds.
/// </summary>
public sealed class AdaRmsNorm : ExpertNorm
{
    private readonly Linear dense;
    private readonly double _eps;

    /// <summary>A norm over width <paramref name="dim"/> conditioned on a <paramref name="conditionDim"/>-wide vector; the dense weight starts at zero, as LeRobot's does.</summary>
    public AdaRmsNorm(long dim, long conditionDim, double eps) : base(nameof(AdaRmsNorm))
    {
        dense = nn.Linear(conditionDim, 3 * dim);
        using (no_grad()) dense.weight!.zero_();
        _eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override (Tensor Normed, Tensor? Gate) forward(Tensor x, Tensor? condition)
    {
        ArgumentNullException.ThrowIfNull(condition, "An adaptive norm needs the time condition.");
        using var scope = NewDisposeScope();
        var modulation = dense.forward(condition);
        if (x.dim() == 3 && modulation.dim() == 2) modulation = modulation.unsqueeze(1);
        var parts = modulation.chunk(3, -1);                                             // scale, shift, gate
        var normed = Normalize(x, _eps) * (parts[0].to_type(ScalarType.Float32) + 1) + parts[1].to_type(ScalarType.Float32);
        return (normed.to_type(x.dtype).MoveToOuterDisposeScope(), parts[2].to_type(x.dtype).MoveToOuterDisposeScope());
    }
}
