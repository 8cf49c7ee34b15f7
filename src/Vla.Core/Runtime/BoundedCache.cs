namespace Vla.Runtime;

/// <summary>
/// A least-recently-used cache bounded in bytes whose values are loaded once per key, however many threads ask at once
/// (the others wait for the first). A failed load is not cached, so a later call retries. The newest entry is kept however
/// large, so a caller's value stays usable. Safe to use from several threads.
/// </summary>
public sealed class BoundedCache<TKey, TValue>(long budgetBytes, Func<TValue, long> sizeOf) where TKey : notnull
{
    private readonly Lock _gate = new();
    private readonly Dictionary<TKey, Entry> _entries = [];
    private readonly LinkedList<TKey> _recency = new();
    private long _cachedBytes;

    private sealed class Entry(Lazy<Task<TValue>> load)
    {
        public Lazy<Task<TValue>> Load { get; } = load;
        public LinkedListNode<TKey>? Node { get; set; }
        public long Bytes { get; set; }
    }

    /// <summary>Bytes held now.</summary>
    public long CachedBytes { get { lock (_gate) return _cachedBytes; } }

    /// <summary>The value of <paramref name="key"/>, loaded by <paramref name="load"/> when it is not held.</summary>
    public TValue Get(TKey key, Func<TKey, Task<TValue>> load)
    {
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(new Lazy<Task<TValue>>(() => load(key)));
                _entries[key] = entry;
            }
            else if (entry.Node is not null)
            {
                _recency.Remove(entry.Node);
                _recency.AddFirst(entry.Node);
            }
        }
        TValue value;
        try
        {
            value = entry.Load.Value.GetAwaiter().GetResult();
        }
        catch
        {
            lock (_gate)
                if (_entries.TryGetValue(key, out var current) && current == entry) _entries.Remove(key); // let a later call retry
            throw;
        }
        lock (_gate)
        {
            if (entry.Node is null && _entries.TryGetValue(key, out var current) && current == entry)
            {
                entry.Bytes = sizeOf(value);
                entry.Node = _recency.AddFirst(key);
                _cachedBytes += entry.Bytes;
                while (_cachedBytes > budgetBytes && _recency.Count > 1)
                {
                    var oldest = _recency.Last!.Value;
                    _recency.RemoveLast();
                    if (_entries.Remove(oldest, out var gone)) _cachedBytes -= gone.Bytes;
                }
            }
        }
        return value;
    }
}
