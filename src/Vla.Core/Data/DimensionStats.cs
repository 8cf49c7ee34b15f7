using System.Text.Json.Serialization;

namespace Vla.Data;

/// <summary>Per-dimension statistics of one vector quantity (state or action).</summary>
public sealed record DimensionStats
{
    /// <summary>Smallest value per dimension.</summary>
    [JsonPropertyName("min")] public required float[] Min { get; init; }
    /// <summary>Largest value per dimension.</summary>
    [JsonPropertyName("max")] public required float[] Max { get; init; }
    /// <summary>Mean per dimension.</summary>
    [JsonPropertyName("mean")] public required float[] Mean { get; init; }
    /// <summary>Population standard deviation per dimension.</summary>
    [JsonPropertyName("std")] public required float[] Std { get; init; }
    /// <summary>1st percentile per dimension (linear interpolation, as numpy's default); empty in files made without quantiles (only quantile mode needs them).</summary>
    [JsonPropertyName("q01")] public float[] Q01 { get; init; } = [];
    /// <summary>99th percentile per dimension; empty in files made without quantiles.</summary>
    [JsonPropertyName("q99")] public float[] Q99 { get; init; } = [];
    /// <summary>Number of vectors the statistics cover.</summary>
    [JsonPropertyName("count")] public required long Count { get; init; }
    /// <summary>The dimensions' names when the data gives them (LeRobot's <c>names</c>), so checkpoints and reports carry them.</summary>
    [JsonPropertyName("names"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<string>? Names { get; init; }

    /// <summary>Number of dimensions.</summary>
    [JsonIgnore] public int Dim => Min.Length;

    /// <summary>Computes the statistics of <paramref name="vectors"/> (all of one length) in one pass over them.</summary>
    public static DimensionStats Compute(IEnumerable<float[]> vectors, int dim)
    {
        var values = new List<float>[dim];
        for (int d = 0; d < dim; d++) values[d] = [];
        var sum = new double[dim];
        long count = 0;
        foreach (var v in vectors)
        {
            if (v.Length != dim) throw new ArgumentException($"Expected vectors of length {dim}, got {v.Length}.");
            for (int d = 0; d < dim; d++)
            {
                values[d].Add(v[d]);
                sum[d] += v[d];
            }
            count++;
        }
        if (count == 0) throw new ArgumentException("Statistics need at least one vector.");
        var stats = new DimensionStats
        {
            Min = new float[dim], Max = new float[dim], Mean = new float[dim], Std = new float[dim],
            Q01 = new float[dim], Q99 = new float[dim], Count = count,
        };
        for (int d = 0; d < dim; d++)
        {
            var sorted = values[d].ToArray();
            Array.Sort(sorted);
            double mean = sum[d] / count;
            double squares = 0;
            foreach (var x in sorted) squares += (x - mean) * (x - mean);
            stats.Min[d] = sorted[0];
            stats.Max[d] = sorted[^1];
            stats.Mean[d] = (float)mean;
            stats.Std[d] = (float)Math.Sqrt(squares / count);
            stats.Q01[d] = Quantile(sorted, 0.01);
            stats.Q99[d] = Quantile(sorted, 0.99);
        }
        return stats;
    }

    /// <summary>The <paramref name="q"/> quantile of sorted values, interpolating linearly between neighbours.</summary>
    internal static float Quantile(float[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        double fraction = position - lower;
        return (float)(sorted[lower] + (sorted[upper] - sorted[lower]) * fraction);
    }
}
