using System.Text.Json;
using System.Text.Json.Serialization;
using Vla.Runtime;

namespace Vla.Data;

/// <summary>
/// Statistics of the training data's <c>state</c> and <c>action</c> vectors, written by <c>vla stats</c>,
/// read by training, and copied into every checkpoint so inference never depends on a loose file.
/// </summary>
public sealed record NormalizationStats
{
    /// <summary>Statistics of the robot state, per state dimension.</summary>
    [JsonPropertyName("state")] public required DimensionStats State { get; init; }

    /// <summary>Statistics of the per-step action, per action dimension (shared by every step of a chunk).</summary>
    [JsonPropertyName("action")] public required DimensionStats Action { get; init; }

    /// <summary>Number of episodes the statistics were computed from.</summary>
    [JsonPropertyName("num_episodes")] public int NumEpisodes { get; init; }

    /// <summary>The files the statistics were computed from.</summary>
    [JsonPropertyName("source_files")] public IReadOnlyList<string> SourceFiles { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Computes the statistics of every step of <paramref name="dataset"/> (it needs an action column).</summary>
    public static NormalizationStats Compute(EpisodeDataset dataset)
    {
        var steps = dataset.Episodes.SelectMany(e => e.Steps).ToList();
        if (steps.Count == 0) throw new BadInputException("Normalization stats need at least one step of data.");
        if (dataset.ActionDim == 0) throw new BadInputException($"{dataset.Files[0]}: the data has no 'action' column, so action statistics cannot be computed.");
        return new NormalizationStats
        {
            State = DimensionStats.Compute(steps.Select(s => s.State), dataset.StateDim) with { Names = dataset.StateNames },
            Action = DimensionStats.Compute(steps.Select(s => s.Action), dataset.ActionDim) with { Names = dataset.ActionNames },
            NumEpisodes = dataset.Episodes.Count,
            SourceFiles = dataset.Files,
        };
    }

    /// <summary>
    /// The statistics training uses for <paramref name="dataset"/>: those its own metadata records (LeRobot's <c>meta/</c>) when they
    /// hold what <paramref name="mode"/> needs, else computed from its rows. <paramref name="source"/> says which.
    /// </summary>
    public static NormalizationStats ForTraining(EpisodeDataset dataset, NormalizationMode mode, out string source)
    {
        if (dataset.RecordedStats is { } recorded && recorded.State.Dim == dataset.StateDim && recorded.Action.Dim == dataset.ActionDim
            && (mode != NormalizationMode.Quantile || (recorded.State.Q01.Length == recorded.State.Dim && recorded.Action.Q01.Length == recorded.Action.Dim)))
        {
            source = $"{string.Join(", ", recorded.SourceFiles)} ({recorded.NumEpisodes} episodes)";
            return recorded with
            {
                State = recorded.State with { Names = dataset.StateNames },
                Action = recorded.Action with { Names = dataset.ActionNames },
            };
        }
        source = $"the rows of {dataset.Episodes.Count} episodes";
        return Compute(dataset);
    }

    /// <summary>Serializes to indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses JSON written by <see cref="ToJson"/>; <paramref name="source"/> names it in errors.</summary>
    public static NormalizationStats FromJson(string json, string source = "<stats>")
    {
        NormalizationStats? stats;
        try
        {
            stats = JsonSerializer.Deserialize<NormalizationStats>(json, Json);
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{source}: not a normalization stats file ({e.Message.TrimEnd('.')}).", e);
        }
        if (stats is null) throw new BadInputException($"{source}: the stats file is empty.");
        foreach (var (name, s) in new[] { ("state", stats.State), ("action", stats.Action) })
        {
            int dim = s.Min.Length;
            bool quantiles = s.Q01.Length > 0 || s.Q99.Length > 0;
            if (s.Max.Length != dim || s.Mean.Length != dim || s.Std.Length != dim || (quantiles && (s.Q01.Length != dim || s.Q99.Length != dim)))
                throw new BadInputException($"{source}: the '{name}' statistics have arrays of different lengths.");
        }
        return stats;
    }

    /// <summary>Refuses statistics that lack what <paramref name="mode"/> needs (quantile mode: q01 and q99), naming <paramref name="source"/> and the field.</summary>
    public void Require(NormalizationMode mode, string source)
    {
        if (mode != NormalizationMode.Quantile) return;
        foreach (var (name, s) in new[] { ("state", State), ("action", Action) })
            foreach (var (field, values) in new[] { ("q01", s.Q01), ("q99", s.Q99) })
                if (values.Length != s.Dim)
                    throw new BadInputException($"{source}: '{name}.{field}' is missing, and data.normalization_mode quantile needs q01 and q99 " +
                        "(recompute the file with 'vla stats', or choose min_max or z_score).");
    }

    /// <summary>Reads a stats file.</summary>
    public static NormalizationStats Load(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"Normalization stats file {path} does not exist.");
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Writes the stats file atomically (<see cref="AtomicFile"/>).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());
}
