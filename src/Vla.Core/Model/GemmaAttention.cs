using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Gemma's grouped-query self-attention: <c>num_attention_heads</c> query heads share
/// <c>num_key_value_heads</c> key/value heads (PaliGemma-3B: 8 and 1), rotary positions, no biases,
/// scores scaled by 1/√head_dim.
/// </summary>
public sealed class GemmaAttention : nn.Module
{
    private readonly LoraLinear q_proj;
    private readonly LoraLinear k_proj;
    private readonly LoraLinear v_proj;
    private readonly LoraLinear o_proj;
    private readonly int _heads, _kvHeads, _headDim;

    /// <summary>Creates the attention of one decoder layer (weights drawn unless <paramref name="initialize"/> is false).</summary>
    public GemmaAttention(GemmaConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(GemmaAttention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        q_proj = new LoraLinear(config.HiddenSize, _heads * _headDim, hasBias: false, dtype: dtype, initialize: initialize);
        k_proj = new LoraLinear(config.HiddenSize, _kvHeads * _headDim, hasBias: false, dtype: dtype, initialize: initialize);
        v_proj = new LoraLinear(config.HiddenSize, _kvHeads * _headDim, hasBias: false, dtype: dtype, initialize: initialize);
        o_proj = new LoraLinear(_heads * _headDim, config.HiddenSize, hasBias: false, dtype: dtype, initialize: initialize);
        RegisterComponents();
    }

    /// <summary>
    /// Attends from <paramref name="x"/> (B, T, D) to the cached tokens plus these; <paramref name="mask"/>
    /// (B, 1, T, S) is true where a query may see a key. Appends this step's keys/values to <paramref name="cache"/>.
    /// </summary>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var (q, k, v) = Project(x);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(layer, k, v);               // (B, kv_heads, S, head_dim)
        var attended = Attend(q, k, v, mask);                                      // (B, heads, T, head_dim)
        var merged = attended.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return Output(merged).MoveToOuterDisposeScope();
    }

    /// <summary>Queries (B, heads, T, head_dim), keys and values (B, kv_heads, T, head_dim) of <paramref name="x"/> (B, T, D), before rotation.</summary>
    public (Tensor Queries, Tensor Keys, Tensor Values) Project(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1];
        return (q_proj.forward(x).view(b, t, _heads, _headDim).transpose(1, 2),
                k_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2),
                v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2));
    }

    /// <summary>
    /// Scaled dot-product attention of <paramref name="queries"/> over <paramref name="keys"/> and <paramref name="values"/>, the
    /// key/value heads shared by groups of query heads; <paramref name="mask"/> is boolean (true: may attend) or additive.
    /// </summary>
    public static Tensor Attend(Tensor queries, Tensor keys, Tensor values, Tensor mask)
    {
        using var scope = NewDisposeScope();
        long groups = queries.shape[1] / keys.shape[1];
        if (groups != 1)
        {
            keys = keys.repeat_interleave(groups, dim: 1);                         // (B, heads, S, head_dim)
            values = values.repeat_interleave(groups, dim: 1);
        }
        return nn.functional.scaled_dot_product_attention(queries, keys, values, mask).MoveToOuterDisposeScope();
    }

    /// <summary>The dtype its projections are stored and compute in.</summary>
    public ScalarType Dtype => q_proj.Weight.dtype;

    /// <summary>The output projection of merged heads (B, T, heads · head_dim) → (B, T, D).</summary>
    public Tensor Output(Tensor merged) => o_proj.forward(merged);
}
