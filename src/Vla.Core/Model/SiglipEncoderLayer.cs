using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>One pre-LayerNorm SigLIP block: <c>x + attn(ln1(x))</c>, then <c>x + mlp(ln2(x))</c>.</summary>
public sealed class SiglipEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm layer_norm1;
    private readonly SiglipAttention self_attn;
    private readonly LayerNorm layer_norm2;
    private readonly SiglipMlp mlp;

    /// <summary>Creates one encoder layer (projections drawn unless <paramref name="initialize"/> is false).</summary>
    public SiglipEncoderLayer(SiglipConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(SiglipEncoderLayer))
    {
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        self_attn = new SiglipAttention(config, dtype, initialize);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        mlp = new SiglipMlp(config, dtype, initialize);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.forward(layer_norm1.forward(x));
        x = x + mlp.forward(layer_norm2.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}
