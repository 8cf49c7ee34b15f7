using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Rotary position embedding in the split-half layout Hugging Face uses for Gemma: the head's first and
/// second halves are the two coordinates of each rotated pair, with frequencies θ^(−2i/d).
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>cos and sin for <paramref name="positions"/> (B, T): each (B, 1, T, head_dim), in float32.</summary>
    public static (Tensor Cos, Tensor Sin) CosSin(Tensor positions, int headDim, double theta)
    {
        using var scope = NewDisposeScope();
        // float32 throughout, as Hugging Face computes it, so long prefixes round the same way.
        var exponents = arange(0, headDim, 2, ScalarType.Int64, positions.device).to_type(ScalarType.Float32) / headDim;
        var inverse = pow(tensor((float)theta, ScalarType.Float32, positions.device), exponents).reciprocal();
        var angles = positions.to_type(ScalarType.Float32).unsqueeze(-1) * inverse;       // (B, T, head_dim / 2)
        var doubled = cat([angles, angles], -1).unsqueeze(1);                             // (B, 1, T, head_dim)
        return (doubled.cos().MoveToOuterDisposeScope(), doubled.sin().MoveToOuterDisposeScope());
    }

    /// <summary>Rotates <paramref name="x"/> (B, heads, T, head_dim) by the angles of <paramref name="cos"/>/<paramref name="sin"/>.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var first = x.narrow(-1, 0, half);
        var second = x.narrow(-1, half, half);
        var rotated = cat([-second, first], -1);
        return (x * cos.to_type(x.dtype) + rotated * sin.to_type(x.dtype)).MoveToOuterDisposeScope();
    }
}
