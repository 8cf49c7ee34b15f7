using Vla.Runtime;

namespace Vla.Data;

/// <summary>
/// Fetches encoded images from the dataset's Parquet files on demand. A row group's image column is
/// read once and kept in a least-recently-used cache bounded in bytes, so a dataset larger than memory
/// streams through while a small one is read from disk only once. Safe to use from several threads.
/// </summary>
public sealed class ImageStore
{
    private readonly IReadOnlyList<string> _files;
    private readonly long _budgetBytes;
    private readonly Lock _gate = new();
    private readonly Dictionary<(int File, int Group, int Camera), Entry> _entries = [];
    private readonly LinkedList<(int File, int Group, int Camera)> _recency = new();
    private long _cachedBytes;

    private sealed class Entry(Lazy<Task<byte[]?[]>> load)
    {
        public Lazy<Task<byte[]?[]>> Load { get; } = load;
        public LinkedListNode<(int, int, int)>? Node { get; set; }
        public long Bytes { get; set; }
    }

    /// <summary>Creates a store over <paramref name="files"/> (indexed as in <see cref="StepRecord.FileIndex"/>).</summary>
    public ImageStore(IReadOnlyList<string> files, long budgetBytes = 512L << 20)
    {
        _files = files;
        _budgetBytes = budgetBytes;
    }

    /// <summary>A store that reads the images of <paramref name="episode"/> alone (for viewers holding an episode but not its dataset).</summary>
    public static ImageStore ForEpisode(Episode episode, long budgetBytes = 64L << 20)
    {
        int fileIndex = episode.Steps[0].FileIndex;
        var files = new string[fileIndex + 1];
        Array.Fill(files, episode.File); // only index fileIndex is ever read
        return new ImageStore(files, budgetBytes);
    }

    /// <summary>Bytes of encoded images held in the cache now.</summary>
    public long CachedBytes { get { lock (_gate) return _cachedBytes; } }

    /// <summary>The encoded image of <paramref name="step"/> for camera 1 or 2, or null when the row has none.</summary>
    public byte[]? Get(StepRecord step, int camera)
    {
        var key = (step.FileIndex, step.RowGroup, camera);
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(new Lazy<Task<byte[]?[]>>(() => ReadColumnAsync(key.FileIndex, key.RowGroup, camera)));
                _entries[key] = entry;
            }
            else if (entry.Node is not null)
            {
                _recency.Remove(entry.Node);
                _recency.AddFirst(entry.Node);
            }
        }
        byte[]?[] column;
        try
        {
            column = entry.Load.Value.GetAwaiter().GetResult();
        }
        catch
        {
            lock (_gate) _entries.Remove(key); // let a later call retry rather than cache the failure
            throw;
        }
        lock (_gate)
        {
            if (entry.Node is null && _entries.TryGetValue(key, out var current) && current == entry)
            {
                entry.Bytes = column.Sum(b => (long)(b?.Length ?? 0)) + 64L * column.Length;
                entry.Node = _recency.AddFirst(key);
                _cachedBytes += entry.Bytes;
                Evict();
            }
        }
        return column[step.RowInGroup];
    }

    private void Evict()
    {
        // Keep at least the newest entry, however large, so the caller's column stays usable.
        while (_cachedBytes > _budgetBytes && _recency.Count > 1)
        {
            var oldest = _recency.Last!.Value;
            _recency.RemoveLast();
            if (_entries.Remove(oldest, out var gone)) _cachedBytes -= gone.Bytes;
        }
    }

    private async Task<byte[]?[]> ReadColumnAsync(int file, int group, int camera)
    {
        string path = _files[file];
        await using var reader = await ParquetStepReader.OpenAsync(path);
        var names = camera == 1 ? StepColumns.Image1 : StepColumns.Image2;
        var field = ParquetStepReader.FindColumn(reader.Schema, names);
        using var rowGroup = reader.OpenRowGroupReader(group);
        if (field is null)
        {
            // The wrist camera is optional (a dataset that needs it is refused when opened): no column, no images.
            if (camera == 2) return new byte[]?[rowGroup.RowCount];
            throw new BadInputException($"{path}: column '{names[0]}' is missing.");
        }
        return await ParquetStepReader.ReadBinaryAsync(rowGroup, field, path, CancellationToken.None);
    }
}
