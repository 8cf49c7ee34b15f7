using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Tests.Runtime;

[Collection(ProcessWide.Name)]
public sealed class MklVendorCheckTests
{
    [Fact]
    public void With_the_vendor_check_answered_float32_products_keep_their_float32_accuracy()
    {
        TorchRuntime.EnsureReady();
        Assert.NotNull(MklVendorCheck.Outcome); // the module initializer looked, whatever it found
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        // Shapes that take oneMKL's blocked kernels (and a ragged one), against the same products in float64.
        foreach (var (m, k, n) in new[] { (256, 512, 384), (1024, 1024, 1024), (129, 1000, 77) })
        {
            var a = randn([m, k], generator: generator);
            var b = randn([k, n], generator: generator);
            var product = matmul(a, b);
            var reference = matmul(a.to_type(ScalarType.Float64), b.to_type(ScalarType.Float64));
            double worst = (product.to_type(ScalarType.Float64) - reference).abs().max().item<double>();
            // float32 accumulation over k terms of size ~1: errors of order sqrt(k) * 2^-24 * sqrt(k); 1e-3 is far above that and far below a wrong kernel.
            Assert.True(worst < 1e-3, $"{m}×{k}×{n}: largest error {worst} ({MklVendorCheck.Outcome})");
        }
    }
}
