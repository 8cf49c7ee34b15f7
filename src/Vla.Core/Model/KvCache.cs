using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Keys and values of every decoder layer for the tokens seen so far, so each new token costs one
/// token's forward. Owns its tensors (detached from any dispose scope); dispose it when done.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    /// <summary>An empty cache for <paramref name="layers"/> layers.</summary>
    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Tokens cached so far.</summary>
    public long Length => _keys[0]?.shape[2] ?? 0;

    /// <summary>Appends this step's (B, kv_heads, T, head_dim) keys and values; returns all of them so far.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        var k = _keys[layer] is { } oldK ? cat([oldK, keys], 2) : keys.alias();
        var v = _values[layer] is { } oldV ? cat([oldV, values], 2) : values.alias();
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = k.detach().DetachFromDisposeScope();
        _values[layer] = v.detach().DetachFromDisposeScope();
        return (_keys[layer]!.alias(), _values[layer]!.alias());
    }

    /// <summary>The cached keys of <paramref name="layer"/> (B, kv_heads, S, head_dim), left as they are.</summary>
    public Tensor Keys(int layer) => _keys[layer]!.alias();

    /// <summary>The cached values of <paramref name="layer"/>, left as they are.</summary>
    public Tensor Values(int layer) => _values[layer]!.alias();

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t?.Dispose();
        Array.Clear(_keys);
        Array.Clear(_values);
    }
}
