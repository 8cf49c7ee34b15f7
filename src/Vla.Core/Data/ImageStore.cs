using Vla.Runtime;
using Vla.Data.Seed;
using Vla.Data.Parquet;

namespace Vla.Data;

/// <summary>
/// Fetches encoded images from the dataset's Parquet files on demand. A row group's image column is
/// read once and kept in a least-recently-used cache bounded in bytes, so a dataset larger than memory
/// streams through while a small one is read from disk only once. Safe to use from several threads.
/// </summary>
public sealed class ImageStore
{
    private readonly IReadOnlyList<string> _files;
    private readonly IReadOnlyList<string[]> _columns;
    private readonly BoundedCache<(int File, int Group, int Camera), byte[]?[]> _cache;

    /// <summary>
    /// Creates a store over <paramref name="files"/> (indexed as in <see cref="StepRecord.FileIndex"/>); camera c reads the first
    /// of <paramref name="columns"/>[c − 1] the file has (the seed schema's <c>image_1</c> and <c>image_2</c> when not given).
    /// </summary>
    public ImageStore(IReadOnlyList<string> files, long budgetBytes = 512L << 20, IReadOnlyList<string[]>? columns = null)
    {
        _files = files;
        _columns = columns ?? [StepColumns.Image1, StepColumns.Image2];
        _cache = new BoundedCache<(int, int, int), byte[]?[]>(budgetBytes, column => column.Sum(b => (long)(b?.Length ?? 0)) + 64L * column.Length);
    }

    /// <summary>The file <paramref name="step"/> was read from.</summary>
    public string FileOf(StepRecord step) => _files[step.FileIndex];

    /// <summary>A store that reads the images of <paramref name="episode"/> alone (for viewers holding an episode but not its dataset).</summary>
    public static ImageStore ForEpisode(Episode episode, long budgetBytes = 64L << 20)
    {
        int fileIndex = episode.Steps[0].FileIndex;
        var files = new string[fileIndex + 1];
        Array.Fill(files, episode.File); // only index fileIndex is ever read
        return new ImageStore(files, budgetBytes);
    }

    /// <summary>Bytes of encoded images held in the cache now.</summary>
    public long CachedBytes => _cache.CachedBytes;

    /// <summary>The encoded image of <paramref name="step"/> for camera 1 or 2, or null when the row has none.</summary>
    public byte[]? Get(StepRecord step, int camera) =>
        _cache.Get((step.FileIndex, step.RowGroup, camera), key => ReadColumnAsync(key.File, key.Group, key.Camera))[step.RowInGroup];

    private async Task<byte[]?[]> ReadColumnAsync(int file, int group, int camera)
    {
        string path = _files[file];
        await using var reader = await ParquetColumns.OpenAsync(path);
        var names = _columns[camera - 1];
        var field = ParquetColumns.FindColumn(reader.Schema, names);
        using var rowGroup = reader.OpenRowGroupReader(group);
        if (field is null)
        {
            // The wrist camera is optional (a dataset that needs it is refused when opened): no column, no images.
            if (camera == 2 && names == StepColumns.Image2) return new byte[]?[rowGroup.RowCount];
            throw new BadInputException($"{path}: column '{names[0]}' is missing.");
        }
        return await ParquetColumns.ReadBinaryAsync(rowGroup, field, path, CancellationToken.None);
    }
}
