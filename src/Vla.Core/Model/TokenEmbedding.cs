using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A token embedding table, (…) int64 ids → (…, D), with <c>nn.Embedding</c>'s parameter name (<c>weight</c>) and
/// initialization (N(0, 1)), unless it is about to be loaded: PaliGemma's 257 k × 2048 table is half a billion values,
/// too many to draw only to overwrite them.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>Creates a <paramref name="count"/> × <paramref name="dim"/> table in <paramref name="dtype"/>, drawn unless <paramref name="initialize"/> is false.</summary>
    public TokenEmbedding(long count, long dim, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(TokenEmbedding))
    {
        weight = new Parameter(empty(count, dim, dtype));
        if (initialize) nn.init.normal_(weight);
        RegisterComponents();
    }

    /// <summary>The table (count × dim).</summary>
    public Parameter Weight => weight;

    /// <inheritdoc/>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        return weight.index_select(0, ids.reshape(-1)).view([.. ids.shape, weight.shape[1]]).MoveToOuterDisposeScope();
    }
}
