namespace Vla.Data;

/// <summary>A summary of a dataset for people: episode lengths, prompts, value ranges, image sizes.</summary>
public sealed record DatasetReport
{
    /// <summary>Range of one dimension.</summary>
    public sealed record DimRange(int Dim, float Min, float Max, float Mean);

    /// <summary>Shortest, median and longest episode; null without episodes.</summary>
    public (int Min, int Median, int Max)? Lengths { get; init; }

    /// <summary>Distinct prompts with their episode counts, most frequent first.</summary>
    public IReadOnlyList<(string Prompt, int Episodes)> Prompts { get; init; } = [];

    /// <summary>Per-dimension state ranges.</summary>
    public IReadOnlyList<DimRange> State { get; init; } = [];

    /// <summary>Per-dimension action ranges.</summary>
    public IReadOnlyList<DimRange> Action { get; init; } = [];

    /// <summary>Size of the first image of each camera ("64×64 PNG").</summary>
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
            for (int camera = 1; camera <= 2; camera++)
            {
                byte[]? bytes;
                try { bytes = dataset.Images.Get(first, camera); }
                catch (Runtime.BadInputException) { continue; } // the camera column is absent
                if (bytes is { Length: > 0 } && SixLabors.ImageSharp.Image.Identify(bytes) is { } info)
                    sizes.Add(($"image_{camera}", $"{info.Width}×{info.Height}"));
            }
        }
        return new DatasetReport
        {
            Lengths = lengths.Length == 0 ? null : (lengths[0], lengths[lengths.Length / 2], lengths[^1]),
            Prompts = dataset.Episodes.GroupBy(e => e.Prompt).Select(g => (g.Key, g.Count()))
                .OrderByDescending(p => p.Item2).ThenBy(p => p.Key, StringComparer.Ordinal).ToList(),
            State = Ranges(steps.Select(s => s.State).ToList()),
            Action = Ranges(steps.Select(s => s.Action).ToList()),
            ImageSizes = sizes,
        };
    }

    private static List<DimRange> Ranges(List<float[]> vectors)
    {
        int dim = ParquetStepReader.MostCommonLength(vectors);
        if (dim == 0) return [];
        return Enumerable.Range(0, dim).Select(d =>
        {
            var column = vectors.Where(v => v.Length == dim).Select(v => v[d]).ToList();
            return new DimRange(d, column.Min(), column.Max(), column.Average());
        }).ToList();
    }
}
