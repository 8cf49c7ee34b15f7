using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// One action-head block: self-attention over the action tokens, cross-attention to the context, MLP;
/// each sublayer normalized by a LayerNorm whose shift and scale, and the residual gate, come from the
/// flow-time embedding (adaptive LayerNorm, zero-initialized so a new block starts as the identity).
/// </summary>
public sealed class FlowMatchingBlock : nn.Module
{
    private const int Sublayers = 3;
    private readonly LayerNorm norm1;
    private readonly HeadAttention self_attn;
    private readonly LayerNorm norm2;
    private readonly HeadAttention cross_attn;
    private readonly LayerNorm norm3;
    private readonly Sequential mlp;
    private readonly Linear ada_ln;
    private readonly BatchDropout dropout;

    /// <summary>Creates a block of width <paramref name="width"/> attending to context of width <paramref name="contextDim"/>, its dropout drawing from the model's <paramref name="masks"/>.</summary>
    public FlowMatchingBlock(int width, int contextDim, int heads, double dropoutProb, DropoutMasks masks) : base(nameof(FlowMatchingBlock))
    {
        norm1 = nn.LayerNorm(width, elementwise_affine: false, eps: 1e-6);
        self_attn = new HeadAttention(width, width, heads);
        norm2 = nn.LayerNorm(width, elementwise_affine: false, eps: 1e-6);
        cross_attn = new HeadAttention(width, contextDim, heads);
        norm3 = nn.LayerNorm(width, elementwise_affine: false, eps: 1e-6);
        mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(GELU.Approximate.tanh), nn.Linear(4 * width, width));
        ada_ln = nn.Linear(width, 3 * Sublayers * width);
        dropout = new BatchDropout(dropoutProb, masks);
        RegisterComponents();
        using var noGrad = no_grad();
        ada_ln.weight!.zero_();
        ada_ln.bias!.zero_();
    }

    /// <summary>The cross-attention's keys and values of the context (B, S, C): fixed over a chunk's Euler steps.</summary>
    public (Tensor Keys, Tensor Values) ContextKeysValues(Tensor context) => cross_attn.KeysValues(context);

    /// <summary>The time condition's modulation (B, 9·W): shift, scale and gate of the three sublayers; fixed for a given flow time.</summary>
    public Tensor Modulation(Tensor condition) => ada_ln.forward(nn.functional.silu(condition));

    /// <summary>
    /// Updates the action tokens <paramref name="x"/> (B, H, W) given the time modulation ((B or 1), 9·W) from <see cref="Modulation"/>
    /// and the context's keys and values from <see cref="ContextKeysValues"/> with its mask (B, S).
    /// </summary>
    public Tensor forward(Tensor x, Tensor modulation, Tensor contextKeys, Tensor contextValues, Tensor contextMask)
    {
        using var scope = NewDisposeScope();
        var m = modulation.unsqueeze(1).chunk(3 * Sublayers, -1);                                     // 9 × (B, 1, W)
        static Tensor Modulate(Tensor h, Tensor shift, Tensor scale) => h * (scale + 1) + shift;
        // action tokens ↔ action tokens: all pairs
        var h = Modulate(norm1.forward(x), m[0], m[1]);
        x = x + m[2] * dropout.forward(self_attn.forward(h, h, null));
        // action tokens → context (image + prompt tokens and the state token): every non-padding key
        x = x + m[5] * dropout.forward(cross_attn.Attend(Modulate(norm2.forward(x), m[3], m[4]), contextKeys, contextValues, contextMask));
        x = x + m[8] * dropout.forward(mlp.forward(Modulate(norm3.forward(x), m[6], m[7])));
        return x.MoveToOuterDisposeScope();
    }
}
