using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>SigLIP's multi-head self-attention over image patches: biased projections, every patch sees every patch.</summary>
public sealed class SiglipAttention : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear k_proj;
    private readonly LoraLinear v_proj;
    private readonly LoraLinear q_proj;
    private readonly LoraLinear out_proj;
    private readonly int _heads, _headDim;

    /// <summary>Creates the attention of one encoder layer (weights drawn unless <paramref name="initialize"/> is false).</summary>
    public SiglipAttention(SiglipConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(SiglipAttention))
    {
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        k_proj = new LoraLinear(config.HiddenSize, config.HiddenSize, dtype: dtype, initialize: initialize);
        v_proj = new LoraLinear(config.HiddenSize, config.HiddenSize, dtype: dtype, initialize: initialize);
        q_proj = new LoraLinear(config.HiddenSize, config.HiddenSize, dtype: dtype, initialize: initialize);
        out_proj = new LoraLinear(config.HiddenSize, config.HiddenSize, dtype: dtype, initialize: initialize);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        var q = q_proj.forward(x).view(b, n, _heads, _headDim).transpose(1, 2); // (B, heads, N, head_dim)
        var k = k_proj.forward(x).view(b, n, _heads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, n, _heads, _headDim).transpose(1, 2);
        var attended = nn.functional.scaled_dot_product_attention(q, k, v);      // (B, heads, N, head_dim)
        return out_proj.forward(attended.transpose(1, 2).reshape(b, n, _heads * _headDim)).MoveToOuterDisposeScope();
    }
}
