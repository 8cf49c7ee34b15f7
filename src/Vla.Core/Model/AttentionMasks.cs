using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Attention masks as boolean tensors, true where a query may attend to a key (PyTorch's
/// <c>scaled_dot_product_attention</c> convention). Pure functions of their inputs.
/// </summary>
public static class AttentionMasks
{
    /// <summary>
    /// The prefix-LM mask over a prefix of length S with key padding <paramref name="keyMask"/> (B, S):
    /// every prefix token sees every non-padding prefix token (bidirectional), shape (B, 1, S, S).
    /// Example, S = 3 with the last token padding: every row is [1, 1, 0].
    /// </summary>
    public static Tensor Prefix(Tensor keyMask)
    {
        long s = keyMask.shape[1];
        // image + prompt tokens ↔ image + prompt tokens: all pairs, except padding keys.
        return keyMask.to_type(ScalarType.Bool).unsqueeze(1).unsqueeze(1).expand(-1, 1, s, -1).contiguous();
    }

    /// <summary>
    /// The mask for T new tokens appended after S cached ones: a new token sees every non-padding cached
    /// key (the prefix, bidirectional to it) and new tokens up to itself (causal). <paramref name="cachedKeyMask"/>
    /// is (B, S); the result is (B, 1, T, S + T).
    /// Example, S = 2 (second is padding), T = 2: rows [1, 0, 1, 0] and [1, 0, 1, 1].
    /// </summary>
    public static Tensor Suffix(Tensor cachedKeyMask, long newTokens)
    {
        using var scope = NewDisposeScope();
        long b = cachedKeyMask.shape[0];
        // new token → cached prefix: every non-padding key.
        var toCache = cachedKeyMask.to_type(ScalarType.Bool).unsqueeze(1).unsqueeze(1).expand(-1, 1, newTokens, -1);
        // new token → new tokens: itself and earlier ones.
        var causal = ones(newTokens, newTokens, ScalarType.Bool, cachedKeyMask.device).tril().expand(b, 1, -1, -1);
        return cat([toCache, causal], -1).MoveToOuterDisposeScope();
    }
}
