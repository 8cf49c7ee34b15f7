using System.Text.Json;

namespace Vla.Data.LeRobot;

/// <summary>
/// The state and action statistics a LeRobot dataset records: v2.x per episode in <c>meta/episodes_stats.jsonl</c> (aggregated
/// over the selected episodes as LeRobot's <c>aggregate_stats</c> does: pooled mean and variance, extreme min and max), v3.0 for the
/// whole dataset in <c>meta/stats.json</c> (used when every episode is selected). Null when they are absent or incomplete,
/// so the statistics are computed from the rows instead.
/// </summary>
internal static class LeRobotStats
{
    public static NormalizationStats? Read(string root, LeRobotInfo info, int listedEpisodes, IReadOnlyList<int> selected, string stateKey, string? actionKey)
    {
        if (actionKey is null) return null;
        try
        {
            return info.IsV3 ? ReadV3(root, listedEpisodes, selected, stateKey, actionKey) : ReadV2(root, selected, stateKey, actionKey);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException or Runtime.BadInputException)
        {
            return null; // recorded stats are an optimisation: computing them from the rows is always possible
        }
    }

    private static NormalizationStats? ReadV2(string root, IReadOnlyList<int> selected, string stateKey, string actionKey)
    {
        string path = Path.Combine(root, "meta", "episodes_stats.jsonl");
        if (!File.Exists(path)) return null;
        var wanted = selected.ToHashSet();
        var perEpisode = new Dictionary<int, JsonElement>();
        foreach (var (line, _) in LeRobotMeta.JsonLines(path))
            if (line.TryGetProperty("episode_index", out var i) && i.TryGetInt32(out int e) && wanted.Contains(e) && line.TryGetProperty("stats", out var stats))
                perEpisode[e] = stats;
        if (perEpisode.Count != wanted.Count) return null;
        var state = Aggregate(perEpisode.Values.Select(s => Parse(s, stateKey)).ToList());
        var action = Aggregate(perEpisode.Values.Select(s => Parse(s, actionKey)).ToList());
        return state is null || action is null ? null
            : new NormalizationStats { State = state, Action = action, NumEpisodes = wanted.Count, SourceFiles = [path] };
    }

    private static NormalizationStats? ReadV3(string root, int listedEpisodes, IReadOnlyList<int> selected, string stateKey, string actionKey)
    {
        string path = Path.Combine(root, "meta", "stats.json");
        if (!File.Exists(path) || selected.Count != listedEpisodes) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var state = Parse(doc.RootElement, stateKey);
        var action = Parse(doc.RootElement, actionKey);
        return state is null || action is null ? null
            : new NormalizationStats { State = state, Action = action, NumEpisodes = selected.Count, SourceFiles = [path] };
    }

    /// <summary>One feature's statistics (min, max, mean, std, count, optionally q01 and q99), or null when any of the first five is missing.</summary>
    private static DimensionStats? Parse(JsonElement stats, string key)
    {
        if (!stats.TryGetProperty(key, out var s)) return null;
        float[]? Values(string name) => s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray() : null;
        var (min, max, mean, std, count) = (Values("min"), Values("max"), Values("mean"), Values("std"), Values("count"));
        if (min is null || max is null || mean is null || std is null || count is not [> 0])
            return null;
        int dim = min.Length;
        if (max.Length != dim || mean.Length != dim || std.Length != dim) return null;
        var (q01, q99) = (Values("q01"), Values("q99"));
        bool quantiles = q01?.Length == dim && q99?.Length == dim;
        return new DimensionStats { Min = min, Max = max, Mean = mean, Std = std, Count = (long)count[0], Q01 = quantiles ? q01! : [], Q99 = quantiles ? q99! : [] };
    }

    /// <summary>
    /// Pools per-episode statistics: min of mins, max of maxes, count-weighted mean, variance Σnᵢ(σᵢ² + (μᵢ − μ)²) / N.
    /// Quantiles cannot be pooled exactly, so the result has none (quantile mode then computes them from the rows).
    /// </summary>
    internal static DimensionStats? Aggregate(IReadOnlyList<DimensionStats?> parts)
    {
        if (parts.Count == 0 || parts.Any(p => p is null)) return null;
        int dim = parts[0]!.Dim;
        if (parts.Any(p => p!.Dim != dim)) return null;
        long total = parts.Sum(p => p!.Count);
        var min = new float[dim]; var max = new float[dim]; var mean = new float[dim]; var std = new float[dim];
        for (int d = 0; d < dim; d++)
        {
            double mu = parts.Sum(p => p!.Count * (double)p.Mean[d]) / total;
            double variance = parts.Sum(p => p!.Count * ((double)p.Std[d] * p.Std[d] + (p.Mean[d] - mu) * (p.Mean[d] - mu))) / total;
            min[d] = parts.Min(p => p!.Min[d]);
            max[d] = parts.Max(p => p!.Max[d]);
            mean[d] = (float)mu;
            std[d] = (float)Math.Sqrt(Math.Max(0, variance));
        }
        return parts.Count == 1 ? parts[0] : new DimensionStats { Min = min, Max = max, Mean = mean, Std = std, Count = total };
    }
}
