using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>Multi-head attention for the action head: queries from the action tokens, keys and values from the same tokens (self) or from the context (cross).</summary>
public sealed class HeadAttention : nn.Module
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly int _heads;

    /// <summary>Attention from width <paramref name="queryDim"/> tokens to width <paramref name="keyDim"/> tokens, in <paramref name="heads"/> heads.</summary>
    public HeadAttention(int queryDim, int keyDim, int heads) : base(nameof(HeadAttention))
    {
        _heads = heads;
        q_proj = nn.Linear(queryDim, queryDim);
        k_proj = nn.Linear(keyDim, queryDim);
        v_proj = nn.Linear(keyDim, queryDim);
        o_proj = nn.Linear(queryDim, queryDim);
        RegisterComponents();
    }

    /// <summary>Attends from <paramref name="x"/> (B, T, Dq) to <paramref name="keys"/> (B, S, Dk); <paramref name="keyMask"/> (B, S) hides padding keys.</summary>
    public Tensor forward(Tensor x, Tensor keys, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        var (k, v) = KeysValues(keys);
        return Attend(x, k, v, keyMask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The keys and values of <paramref name="keys"/> (B, S, Dk), split into heads: (B, heads, S, head_dim) each. A context
    /// that stays fixed over a chunk's Euler steps needs them once (<see cref="FlowMatchingHead.Prepare"/>).
    /// </summary>
    public (Tensor Keys, Tensor Values) KeysValues(Tensor keys)
    {
        long b = keys.shape[0], s = keys.shape[1], headDim = q_proj.weight!.shape[0] / _heads;
        return (k_proj.forward(keys).view(b, s, _heads, headDim).transpose(1, 2), v_proj.forward(keys).view(b, s, _heads, headDim).transpose(1, 2));
    }

    /// <summary>Attends from <paramref name="x"/> (B, T, Dq) to keys and values from <see cref="KeysValues"/>; <paramref name="keyMask"/> (B, S) hides padding keys.</summary>
    public Tensor Attend(Tensor x, Tensor keys, Tensor values, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], s = keys.shape[2], width = x.shape[2], headDim = width / _heads;
        var q = q_proj.forward(x).view(b, t, _heads, headDim).transpose(1, 2);    // (B, heads, T, head_dim)
        var mask = keyMask?.view(b, 1, 1, s);                                      // every query sees every non-padding key
        var attended = nn.functional.scaled_dot_product_attention(q, keys, values, mask);
        return o_proj.forward(attended.transpose(1, 2).reshape(b, t, width)).MoveToOuterDisposeScope();
    }
}
