using Vla.Config;
using Vla.Runtime;

namespace Vla.Data;

/// <summary>
/// Maps state and action values to the model's space and back. A degenerate dimension (max == min,
/// std ≈ 0) normalizes to 0 and denormalizes to its constant value, so a gripper that never moves in
/// the data cannot produce infinities. <see cref="DenormalizeActions"/> inverts <see cref="NormalizeActions"/> on
/// every non-degenerate dimension.
/// </summary>
public sealed class Normalizer
{
    /// <summary>Spreads below this are treated as degenerate.</summary>
    public const float DegenerateSpread = 1e-6f;

    private readonly Map _state, _action;

    /// <summary>Per dimension: normalized = (x − offset) · scale + shift; a scale of 0 maps everything to 0 and back to offset.</summary>
    private sealed record Map(float[] Offset, float[] Scale, float[] Shift);

    /// <summary>The statistics in use.</summary>
    public NormalizationStats Stats { get; }

    /// <summary>The mapping in use.</summary>
    public NormalizationMode Mode { get; }

    /// <summary>Creates a normalizer; the mapping per dimension is <c>(x − offset) · scale</c> (scale 0 when degenerate).</summary>
    public Normalizer(NormalizationStats stats, NormalizationMode mode) : this(stats, mode, (s, m) =>
    {
        var (offset, scale) = Affine(s, m);
        return new Map(offset, scale, new float[s.Dim]);
    }) { }

    private Normalizer(NormalizationStats stats, NormalizationMode mode, Func<DimensionStats, NormalizationMode, Map> map)
    {
        stats.Require(mode, "the normalization statistics");
        Stats = stats;
        Mode = mode;
        _state = map(stats.State, mode);
        _action = map(stats.Action, mode);
    }

    /// <summary>
    /// The normalization of LeRobot's processors (<c>NormalizerProcessorStep</c>, eps 1e-8), for policies trained there:
    /// z-score <c>(x − mean) / (std + 1e-8)</c>; quantile and min-max <c>2 (x − lo) / (hi − lo) − 1</c> with a zero spread
    /// replaced by 1e-8, so a constant dimension at its low bound maps to −1 (not to 0 as <see cref="Normalizer(NormalizationStats, NormalizationMode)"/>
    /// does), which decides pi0.5's state bins. The inverse is the affine map's (LeRobot's z-score inverse omits the 1e-8: 1e-8 of a value apart).
    /// </summary>
    public static Normalizer LeRobot(NormalizationStats stats, NormalizationMode mode) => new(stats, mode, (s, m) =>
    {
        const double eps = 1e-8;
        var (offset, scale, shift) = (new float[s.Dim], new float[s.Dim], new float[s.Dim]);
        for (int d = 0; d < s.Dim; d++)
        {
            if (m == NormalizationMode.ZScore)
            {
                offset[d] = s.Mean[d];
                scale[d] = (float)(1 / ((double)s.Std[d] + eps));
                continue;
            }
            (float lo, float hi) = m == NormalizationMode.Quantile ? (s.Q01[d], s.Q99[d]) : (s.Min[d], s.Max[d]);
            float spread = hi - lo == 0 ? (float)eps : hi - lo;                           // as LeRobot: in float32
            (offset[d], scale[d], shift[d]) = (lo, 2 / spread, -1);
        }
        return new Map(offset, scale, shift);
    });

    /// <summary>
    /// The normalization of openpi's transforms (<c>Normalize</c> / <c>Unnormalize</c>, eps 1e-6), for policies trained there:
    /// z-score <c>(x − mean) / (std + 1e-6)</c>, quantile <c>2 (x − q01) / (q99 − q01 + 1e-6) − 1</c>, and their exact inverses.
    /// </summary>
    public static Normalizer OpenPi(NormalizationStats stats, NormalizationMode mode) => new(stats, mode, (s, m) =>
    {
        if (m == NormalizationMode.MinMax) throw new ArgumentException("openpi normalizes by mean and std or by quantiles.", nameof(mode));
        const double eps = 1e-6;
        var (offset, scale, shift) = (new float[s.Dim], new float[s.Dim], new float[s.Dim]);
        for (int d = 0; d < s.Dim; d++)
            (offset[d], scale[d], shift[d]) = m == NormalizationMode.ZScore
                ? (s.Mean[d], (float)(1 / ((double)s.Std[d] + eps)), 0f)
                : (s.Q01[d], (float)(2 / ((double)s.Q99[d] - s.Q01[d] + eps)), -1f);
        return new Map(offset, scale, shift);
    });

    /// <summary>The normalizer of <paramref name="style"/> over <paramref name="stats"/> as <paramref name="mode"/> says (a policy declares its style).</summary>
    public static Normalizer For(NormalizationStats stats, NormalizationMode mode, NormalizationStyle style) => style switch
    {
        NormalizationStyle.LeRobot => LeRobot(stats, mode),
        NormalizationStyle.OpenPi => OpenPi(stats, mode),
        _ => new Normalizer(stats, mode),
    };

    /// <summary>Parses the config spelling (<c>min_max</c>, <c>z_score</c>, <c>quantile</c>).</summary>
    public static NormalizationMode ParseMode(string mode) => mode switch
    {
        "min_max" => NormalizationMode.MinMax,
        "z_score" => NormalizationMode.ZScore,
        "quantile" => NormalizationMode.Quantile,
        _ => throw new BadInputException($"data.normalization_mode must be min_max, z_score or quantile (got '{mode}')."),
    };

    /// <summary>The config spelling of <paramref name="mode"/> (the inverse of <see cref="ParseMode"/>).</summary>
    public static string ModeName(NormalizationMode mode) => mode switch
    {
        NormalizationMode.MinMax => "min_max",
        NormalizationMode.ZScore => "z_score",
        _ => "quantile",
    };

    /// <summary>Normalizes a state vector in place.</summary>
    public void NormalizeState(Span<float> state) => Apply(state, _state, forward: true);

    /// <summary>Normalizes in place a run of consecutive action steps (length a multiple of the action dimension).</summary>
    public void NormalizeActions(Span<float> actions) => Apply(actions, _action, forward: true);

    /// <summary>Maps normalized state values back to the data's units, in place.</summary>
    public void DenormalizeState(Span<float> state) => Apply(state, _state, forward: false);

    /// <summary>Maps normalized action steps back to the data's units, in place.</summary>
    public void DenormalizeActions(Span<float> actions) => Apply(actions, _action, forward: false);

    private static void Apply(Span<float> values, Map map, bool forward)
    {
        int dim = map.Offset.Length;
        if (values.Length % dim != 0)
            throw new ArgumentException($"Expected a multiple of {dim} values, got {values.Length}.");
        for (int i = 0; i < values.Length; i++)
        {
            int d = i % dim;
            float offset = map.Offset[d], scale = map.Scale[d], shift = map.Shift[d];
            if (scale == 0) values[i] = forward ? 0f : offset;
            else if (shift == 0) values[i] = forward ? (values[i] - offset) * scale : values[i] / scale + offset;
            else values[i] = forward ? (values[i] - offset) * scale + shift : (values[i] - shift) / scale + offset;
        }
    }

    /// <summary>
    /// min_max: offset = (min + max) / 2, scale = 2 / (max − min); z_score: offset = mean, scale = 1 / std;
    /// quantile: as min_max over [q01, q99]. A degenerate dimension gets scale 0 and its constant as offset.
    /// </summary>
    private static (float[] Offset, float[] Scale) Affine(DimensionStats s, NormalizationMode mode)
    {
        var offset = new float[s.Dim];
        var scale = new float[s.Dim];
        for (int d = 0; d < s.Dim; d++)
        {
            (double lo, double hi) = mode == NormalizationMode.Quantile ? (s.Q01[d], s.Q99[d]) : (s.Min[d], s.Max[d]);
            if (mode == NormalizationMode.ZScore)
            {
                offset[d] = s.Mean[d];
                scale[d] = s.Std[d] < DegenerateSpread ? 0f : 1f / s.Std[d];
            }
            else
            {
                bool degenerate = hi - lo < DegenerateSpread;
                offset[d] = degenerate ? (float)lo : (float)((lo + hi) / 2);
                scale[d] = degenerate ? 0f : (float)(2 / (hi - lo));
            }
        }
        return (offset, scale);
    }
}
