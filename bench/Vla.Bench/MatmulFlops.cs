using Vla.Config;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;

namespace Vla.Bench;

/// <summary>
/// Matrix-multiply FLOPs of one VLA forward pass, counted from the configuration (2 per multiply-add):
/// every linear layer and convolution, and attention's two batched products. Elementwise work, norms and
/// softmax are left out, as MFU conventionally does. A training step costs three forwards (backward ≈ 2×).
/// </summary>
internal static class MatmulFlops
{
    public static double TrainStep(VlaConfig config, PaliGemmaConfig backbone, int batch, int cameras, int promptTokens) =>
        3 * Forward(config, backbone, batch, cameras, promptTokens);

    public static double Forward(VlaConfig config, PaliGemmaConfig backbone, int batch, int cameras, int promptTokens)
    {
        var v = backbone.Vision;
        var t = backbone.Text;
        double patches = Math.Pow(v.ImageSize / v.PatchSize, 2);
        double images = batch * cameras;
        double d = v.HiddenSize;
        double vision = 2 * patches * (3.0 * v.PatchSize * v.PatchSize) * d
            + v.NumHiddenLayers * (4 * 2 * patches * d * d + 2 * 2 * patches * patches * d + 2 * 2 * patches * d * v.IntermediateSize);
        double projector = 2 * patches * d * backbone.ProjectionDim;

        double s = cameras * patches + promptTokens;
        double D = t.HiddenSize, q = t.NumAttentionHeads * t.HeadDim, kv = t.NumKeyValueHeads * t.HeadDim;
        double text = t.NumHiddenLayers * (2 * s * D * q + 2 * 2 * s * D * kv + 2 * s * q * D + 2 * 2 * s * s * q + 3 * 2 * s * D * t.IntermediateSize);

        var head = config.Model.ActionHeadConfig;
        double c = config.Model.VisionResamplerConfig.OutputDim, w = head.HiddenDim, h = head.Horizon, a = head.PerActionDim;
        double context = s * Mlp([D, c, c]);
        double state = head.UseStateInput ? Mlp([config.Data.StateDim, .. head.MlpHiddenDims, c]) : 0;
        double sc = s + (head.UseStateInput ? 1 : 0);
        double block = 2 * w * 9 * w
            + 4 * 2 * h * w * w + 2 * 2 * h * h * w                                  // self-attention
            + 2 * 2 * h * w * w + 2 * 2 * sc * c * w + 2 * 2 * h * sc * w              // cross-attention
            + 2 * 2 * h * w * 4 * w;                                                   // MLP
        double actionHead = h * Mlp([a, .. head.MlpHiddenDims, w]) + 2 * 2 * w * w + head.NumLayers * block + 2 * w * 2 * w + 2 * h * w * a;

        return images * (vision + projector) + batch * (text + context + state + actionHead);
    }

    /// <summary>FLOPs of one token through an MLP whose layer widths are <paramref name="sizes"/> (input first).</summary>
    private static double Mlp(double[] sizes) => sizes.Zip(sizes.Skip(1), (i, o) => 2 * i * o).Sum();
}
