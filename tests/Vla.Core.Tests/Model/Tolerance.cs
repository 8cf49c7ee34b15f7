using static TorchSharp.torch;

namespace Vla.Tests.Model;

internal static class Tolerance
{
    /// <summary>Asserts max |actual − expected| ≤ <paramref name="relative"/> · max(|expected|), with shapes equal.</summary>
    public static void Close(Tensor expected, Tensor actual, double relative = 1e-4, string what = "")
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        double scale = Math.Max(expected.abs().max().item<float>(), 1e-6);
        double error = (actual.to_type(ScalarType.Float32) - expected).abs().max().item<float>();
        Assert.True(error <= relative * scale, $"{what}: max error {error:G3} exceeds {relative:G2} × {scale:G3}");
    }
}

/// <summary>Compares floats within an absolute tolerance (for Assert.Equal on sequences).</summary>
internal sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
{
    public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(float obj) => 0;
}
