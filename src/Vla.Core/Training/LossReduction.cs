using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>
/// How training reduces a policy's unreduced per-step loss (B, horizon) to one number: the mean over the chunk steps
/// inside their episode. A policy returns the loss per step (as openpi's <c>compute_loss</c>); masking padded steps and
/// the data-parallel denominator are the trainer's business.
/// </summary>
public static class LossReduction
{
    /// <summary>
    /// The mean of <paramref name="perStep"/> (B, horizon) over the steps where <paramref name="stepMask"/> is
    /// true, divided by their count, or by <paramref name="denominator"/> when given (data parallel: the global
    /// count over the number of ranks, so the average of the ranks' gradients is the whole batch's gradient).
    /// </summary>
    public static Tensor MaskedMean(Tensor perStep, Tensor stepMask, double? denominator = null)
    {
        using var scope = NewDisposeScope();
        var weights = stepMask.to_type(perStep.dtype);
        var sum = (perStep * weights).sum();
        return (denominator is double d ? sum / Math.Max(d, 1e-12) : sum / weights.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean squared error of chunks (B, horizon, dim) over the steps where <paramref name="stepMask"/> (B, horizon) is true.</summary>
    public static Tensor MaskedMse(Tensor predicted, Tensor target, Tensor stepMask)
    {
        using var scope = NewDisposeScope();
        return MaskedMean((predicted - target).pow(2).mean([-1]), stepMask).MoveToOuterDisposeScope();
    }
}
