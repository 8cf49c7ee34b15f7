using Vla.Data.Parquet;
namespace Vla.Data;

/// <summary>A summary of a dataset for people: episode lengths, prompts, value ranges, image sizes.</summary>
public sealed record DatasetReport
{
    /// <summary>Range of one dimension, with its name (LeRobot's <c>names</c>, else <c>dim N</c>).</summary>
    public sealed record DimRange(int Dim, string Name, float Min, float Max, float Mean);

    /// <summary>Shortest, median and longest episode; null without episodes.</summary>
    public (int Min, int Median, int Max)? Lengths { get; init; }

    /// <summary>Distinct prompts with their episode counts, most frequent first.</summary>
    public IReadOnlyList<(string Prompt, int Episodes)> Prompts { get; init; } = [];

    /// <summary>Per-dimension state ranges.</summary>
    public IReadOnlyList<DimRange> State { get; init; } = [];

    /// <summary>Per-dimension action ranges.</summary>
    public IReadOnlyList<DimRange> Action { get; init; } = [];

    /// <summary>Size of the first image of each camera ("64×64"), or "video" for a video camera.</summary>
    public IReadOnlyList<(string Camera, string Size)> ImageSizes { get; init; } = [];

    /// <summary>Summarizes <paramref name="dataset"/>.</summary>
    public static DatasetReport Create(EpisodeDataset dataset)
    {
        var steps = dataset.Episodes.SelectMany(e => e.Steps).ToList();
        var lengths = dataset.Episodes.Select(e => e.Length).Order().ToArray();
        var sizes = new List<(string, string)>();
        if (dataset.Episodes.Count > 0)
        {
            var first = dataset.Episodes[0].Steps[0];
            for (int camera = 1; camera <= dataset.Frames.Cameras.Count; camera++)
            {
                string name = dataset.Frames.Cameras[camera - 1];
                if (dataset.Frames is not EncodedFrameSource encoded)
                {
                    sizes.Add((name, "video"));
                    continue;
                }
                byte[]? bytes;
                try { bytes = encoded.Images.Get(first, camera); }
                catch (Runtime.BadInputException) { continue; } // the camera column is absent
                if (bytes is { Length: > 0 } && SixLabors.ImageSharp.Image.Identify(bytes) is { } info)
                    sizes.Add((name, $"{info.Width}×{info.Height}"));
            }
        }
        return new DatasetReport
        {
            Lengths = lengths.Length == 0 ? null : (lengths[0], lengths[lengths.Length / 2], lengths[^1]),
            Prompts = dataset.Episodes.GroupBy(e => e.Prompt).Select(g => (g.Key, g.Count()))
                .OrderByDescending(p => p.Item2).ThenBy(p => p.Key, StringComparer.Ordinal).ToList(),
            State = Ranges(steps.Select(s => s.State).ToList(), dataset.StateNames),
            Action = Ranges(steps.Select(s => s.Action).ToList(), dataset.ActionNames),
            ImageSizes = sizes,
        };
    }

    private static List<DimRange> Ranges(List<float[]> vectors, IReadOnlyList<string>? names)
    {
        int dim = ParquetColumns.MostCommonLength(vectors);
        if (dim == 0) return [];
        return Enumerable.Range(0, dim).Select(d =>
        {
            var column = vectors.Where(v => v.Length == dim).Select(v => v[d]).ToList();
            return new DimRange(d, DimensionNames.Of(names, d), column.Min(), column.Max(), column.Average());
        }).ToList();
    }
}
