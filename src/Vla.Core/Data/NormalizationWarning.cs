namespace Vla.Data;

/// <summary>
/// Something about the normalization statistics that would make training learn badly without failing, for one
/// dimension: what openpi's and LeRobot's users keep reporting (openpi #814: q01/q99 of a near-constant dimension
/// mapping other values to about −3200; LeRobot #2189: quantile mode without quantiles; #1763: normalization
/// silently doing nothing).
/// </summary>
/// <param name="Quantity"><c>state</c> or <c>action</c>.</param>
/// <param name="Dim">The dimension.</param>
/// <param name="Flag">A short tag for tables: <c>constant</c>, <c>q01=q99</c>, <c>std≈0</c>, <c>N% outside ±3</c>.</param>
/// <param name="Message">What is wrong and what it does, as the end of a sentence.</param>
public sealed record NormalizationWarning(string Quantity, int Dim, string Flag, string Message)
{
    /// <summary>Share of values past ±<see cref="Bound"/> after normalization above which a dimension is flagged.</summary>
    public const double OutsideShare = 0.01;

    /// <summary>The bound normalized values are expected to stay within.</summary>
    public const double Bound = 3;

    /// <summary>One sentence naming the dimension.</summary>
    public override string ToString() => $"{Quantity} dimension {Dim}: {Message}";

    /// <summary>
    /// The warnings for <paramref name="stats"/> under <paramref name="mode"/>; with <paramref name="data"/> (the
    /// validation split, else the training data), also the dimensions the mode maps outside ±3 too often.
    /// </summary>
    public static List<NormalizationWarning> Find(NormalizationStats stats, NormalizationMode mode, EpisodeDataset? data = null)
    {
        var warnings = new List<NormalizationWarning>();
        foreach (var (quantity, s) in new[] { ("state", stats.State), ("action", stats.Action) })
            for (int d = 0; d < s.Dim; d++)
                if (Spread(s, d, mode) is { } why) warnings.Add(new NormalizationWarning(quantity, d, why.Flag, why.Message));
        if (data is null || data.StepCount == 0) return warnings;

        var normalizer = new Normalizer(stats, mode);
        foreach (var (quantity, dim, vectors, apply) in new[]
        {
            ("state", stats.State.Dim, data.Episodes.SelectMany(e => e.Steps).Select(s => s.State), (Action<float[]>)(v => normalizer.NormalizeState(v))),
            ("action", stats.Action.Dim, data.Episodes.SelectMany(e => e.Steps).Select(s => s.Action), v => normalizer.NormalizeActions(v)),
        })
        {
            var outside = new long[dim];
            var worst = new float[dim];
            long count = 0;
            foreach (var raw in vectors)
            {
                if (raw.Length != dim) continue;
                var v = (float[])raw.Clone();
                apply(v);
                for (int d = 0; d < dim; d++)
                {
                    if (Math.Abs(v[d]) > Bound) outside[d]++;
                    if (Math.Abs(v[d]) > Math.Abs(worst[d])) worst[d] = v[d];
                }
                count++;
            }
            for (int d = 0; d < dim && count > 0; d++)
            {
                double share = (double)outside[d] / count;
                if (share > OutsideShare)
                    warnings.Add(new NormalizationWarning(quantity, d, $"{share * 100:F1}% outside ±{Bound}",
                        $"{Normalizer.ModeName(mode)} maps {share * 100:F1}% of the values of {Path.GetFileName(data.Files[0])}{(data.Files.Count > 1 ? " …" : "")} outside [−{Bound}, {Bound}] " +
                        $"(up to {worst[d]:G4}); the statistics do not describe this data (another mode, or statistics of this data, would)."));
            }
        }
        return warnings;
    }

    /// <summary>Why dimension <paramref name="d"/>'s spread under <paramref name="mode"/> makes its normalization useless or explosive, or null.</summary>
    private static (string Flag, string Message)? Spread(DimensionStats s, int d, NormalizationMode mode)
    {
        double range = s.Max[d] - s.Min[d];
        if (range < Normalizer.DegenerateSpread)
            return ("constant", $"constant at {s.Min[d]:G6} in the statistics: it normalizes to 0, so the model never sees it move.");
        switch (mode)
        {
            case NormalizationMode.Quantile:
                double band = s.Q99[d] - s.Q01[d];
                if (band < Normalizer.DegenerateSpread)
                    return ("q01=q99", $"q01 = q99 = {s.Q01[d]:G6} although it ranges over [{s.Min[d]:G6}, {s.Max[d]:G6}]: quantile mode maps it to 0, ignoring its rare moves.");
                if (range / band > 100)
                    return ("q01≈q99", $"q01..q99 spans {band:G3} of its range {range:G3}: quantile mode maps its extremes to about ±{2 * range / band:G3}.");
                return null;
            case NormalizationMode.ZScore:
                return s.Std[d] < Normalizer.DegenerateSpread
                    ? ("std≈0", $"its std is {s.Std[d]:G3} although it ranges over [{s.Min[d]:G6}, {s.Max[d]:G6}]: z_score maps it to 0.")
                    : null;
            default:
                return null;
        }
    }
}
