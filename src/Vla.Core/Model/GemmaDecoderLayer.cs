using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>One pre-norm Gemma block: <c>x + attn(norm(x))</c>, then <c>x + mlp(norm(x))</c>.</summary>
public sealed class GemmaDecoderLayer : nn.Module
{
    private readonly RmsNorm input_layernorm;
    private readonly GemmaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly GemmaMlp mlp;
    private readonly int _index;

    /// <summary>Creates layer number <paramref name="index"/> (projections drawn unless <paramref name="initialize"/> is false).</summary>
    public GemmaDecoderLayer(GemmaConfig config, int index, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(GemmaDecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        self_attn = new GemmaAttention(config, dtype, initialize);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        mlp = new GemmaMlp(config, dtype, initialize);
        _index = index;
        RegisterComponents();
    }

    /// <summary>The norm before attention.</summary>
    public RmsNorm InputNorm => input_layernorm;
    /// <summary>The self-attention.</summary>
    public GemmaAttention Attention => self_attn;
    /// <summary>The norm before the MLP.</summary>
    public RmsNorm PostAttentionNorm => post_attention_layernorm;
    /// <summary>The feed-forward.</summary>
    public GemmaMlp Mlp => mlp;

    /// <summary>Runs the block; see <see cref="GemmaAttention.forward"/> for the arguments.</summary>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.forward(input_layernorm.forward(x), cos, sin, mask, cache, _index);
        x = x + mlp.forward(post_attention_layernorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}
