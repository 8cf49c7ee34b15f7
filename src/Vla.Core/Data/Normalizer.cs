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

    private readonly float[] _stateOffset, _stateScale, _actionOffset, _actionScale;

    /// <summary>The statistics in use.</summary>
    public NormalizationStats Stats { get; }

    /// <summary>The mapping in use.</summary>
    public NormalizationMode Mode { get; }

    /// <summary>Creates a normalizer; the mapping per dimension is <c>(x − offset) · scale</c> (scale 0 when degenerate).</summary>
    public Normalizer(NormalizationStats stats, NormalizationMode mode)
    {
        stats.Require(mode, "the normalization statistics");
        Stats = stats;
        Mode = mode;
        (_stateOffset, _stateScale) = Affine(stats.State, mode);
        (_actionOffset, _actionScale) = Affine(stats.Action, mode);
    }

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
    public void NormalizeState(Span<float> state) => Apply(state, _stateOffset, _stateScale, forward: true);

    /// <summary>Normalizes in place a run of consecutive action steps (length a multiple of the action dimension).</summary>
    public void NormalizeActions(Span<float> actions) => Apply(actions, _actionOffset, _actionScale, forward: true);

    /// <summary>Maps normalized state values back to the data's units, in place.</summary>
    public void DenormalizeState(Span<float> state) => Apply(state, _stateOffset, _stateScale, forward: false);

    /// <summary>Maps normalized action steps back to the data's units, in place.</summary>
    public void DenormalizeActions(Span<float> actions) => Apply(actions, _actionOffset, _actionScale, forward: false);

    private static float Forward(float x, float offset, float scale) => scale == 0 ? 0f : (x - offset) * scale;

    private static void Apply(Span<float> values, float[] offset, float[] scale, bool forward)
    {
        int dim = offset.Length;
        if (values.Length % dim != 0)
            throw new ArgumentException($"Expected a multiple of {dim} values, got {values.Length}.");
        for (int i = 0; i < values.Length; i++)
        {
            int d = i % dim;
            values[i] = forward
                ? Forward(values[i], offset[d], scale[d])
                : scale[d] == 0 ? offset[d] : values[i] / scale[d] + offset[d];
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
