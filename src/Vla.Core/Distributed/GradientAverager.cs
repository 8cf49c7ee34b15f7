using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>Averages gradients across the ranks of a data-parallel job.</summary>
public static class GradientAverager
{
    /// <summary>
    /// Packs every gradient (zeros for a parameter without one) into one float32 buffer, all-reduces it once,
    /// divides by the world size and unpacks (rounding back to a half-precision gradient's dtype): one
    /// collective per step, whatever the number of tensors.
    /// </summary>
    public static void Average(IReadOnlyList<Parameter> parameters, IProcessGroup group)
    {
        using var scope = NewDisposeScope();
        var flat = cat(parameters.Select(p => (p.grad ?? zeros_like(p)).reshape(-1).to_type(ScalarType.Float32)).ToArray()).contiguous();
        group.AllReduceSum(flat);
        flat.div_(group.WorldSize);
        long offset = 0;
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            long n = p.numel();
            if (p.grad is null) p.grad = zeros_like(p).DetachFromDisposeScope();
            p.grad.copy_(flat.narrow(0, offset, n).view(p.shape));
            offset += n;
        }
    }
}
