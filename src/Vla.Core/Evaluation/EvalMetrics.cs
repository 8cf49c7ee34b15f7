using Vla.Data;

namespace Vla.Evaluation;

/// <summary>
/// Accumulates evaluation metrics over predicted and true action chunks. Every figure counts only the
/// chunk steps inside their episode (mask true); padded steps never count.
/// </summary>
/// <remarks>
/// <c>mse</c>/<c>mae</c> are in the data's own units (denormalized), <c>*_normalized</c> in the model's
/// space. <c>accuracy</c> cuts the normalized range [-1, 1] into <c>num_action_bins</c> equal bins
/// (values outside are put in the end bins) and counts the share of predicted values whose bin equals
/// the truth's. <c>baseline_*</c> predicts the training data's mean action at every step.
/// </remarks>
public sealed class EvalMetrics
{
    private readonly Normalizer _normalizer;
    private readonly int _bins;
    private readonly float[] _meanAction;
    private long _sameBin;

    /// <summary>All values, data units.</summary>
    public ErrorSums Overall { get; } = new();
    /// <summary>All values, normalized.</summary>
    public ErrorSums Normalized { get; } = new();
    /// <summary>The mean-chunk predictor, data units.</summary>
    public ErrorSums Baseline { get; } = new();
    /// <summary>Per horizon step, data units.</summary>
    public ErrorSums[] PerStep { get; }
    /// <summary>Per action dimension, data units.</summary>
    public ErrorSums[] PerDim { get; }
    /// <summary>Windows counted.</summary>
    public long Windows { get; private set; }

    /// <summary>Share of values in the same bin as the truth.</summary>
    public double Accuracy => Normalized.Count == 0 ? double.NaN : (double)_sameBin / Normalized.Count;

    /// <summary>Creates an empty accumulator for chunks of <paramref name="horizon"/> × the stats' action dimension.</summary>
    public EvalMetrics(Normalizer normalizer, int horizon, int bins)
    {
        _normalizer = normalizer;
        _bins = bins;
        _meanAction = normalizer.Stats.Action.Mean;
        PerStep = Enumerable.Range(0, horizon).Select(_ => new ErrorSums()).ToArray();
        PerDim = Enumerable.Range(0, normalizer.Stats.Action.Dim).Select(_ => new ErrorSums()).ToArray();
    }

    /// <summary>The bin of a normalized value: ⌊(x + 1) / 2 · bins⌋, clamped to [0, bins − 1].</summary>
    public static int Bin(float normalized, int bins) => Math.Clamp((int)Math.Floor((normalized + 1) / 2.0 * bins), 0, bins - 1);

    /// <summary>
    /// Adds one window: the normalized predicted and true chunks (horizon × dim, row-major), the recorded actions in
    /// the data's units (<paramref name="truth"/>: the data-unit errors are measured against what was recorded, not
    /// against the normalized truth mapped back, which loses what the training statistics cannot express, such as
    /// movement in a dimension that was constant in training) and the step mask.
    /// </summary>
    public void Add(ReadOnlySpan<float> predictedNormalized, ReadOnlySpan<float> truthNormalized, ReadOnlySpan<float> truth, ReadOnlySpan<bool> stepMask)
    {
        int dim = PerDim.Length, horizon = PerStep.Length;
        var predicted = predictedNormalized.ToArray();
        _normalizer.DenormalizeActions(predicted);
        for (int h = 0; h < horizon; h++)
        {
            if (!stepMask[h]) continue;
            for (int d = 0; d < dim; d++)
            {
                int i = h * dim + d;
                double error = predicted[i] - truth[i];
                Overall.Add(error);
                PerStep[h].Add(error);
                PerDim[d].Add(error);
                Normalized.Add(predictedNormalized[i] - truthNormalized[i]);
                Baseline.Add(_meanAction[d] - truth[i]);
                if (Bin(predictedNormalized[i], _bins) == Bin(truthNormalized[i], _bins)) _sameBin++;
            }
        }
        Windows++;
    }

    /// <summary>Adds everything another accumulator counted (for the combined section).</summary>
    public void Add(EvalMetrics other)
    {
        Overall.Add(other.Overall);
        Normalized.Add(other.Normalized);
        Baseline.Add(other.Baseline);
        for (int h = 0; h < PerStep.Length; h++) PerStep[h].Add(other.PerStep[h]);
        for (int d = 0; d < PerDim.Length; d++) PerDim[d].Add(other.PerDim[d]);
        _sameBin += other._sameBin;
        Windows += other.Windows;
    }

    /// <summary>The figures as the JSON object metrics.json holds for one section.</summary>
    public Dictionary<string, object> ToJson() => new()
    {
        ["num_windows"] = Windows,
        ["overall"] = new Dictionary<string, double>
        {
            ["mse"] = Overall.Mse, ["mae"] = Overall.Mae,
            ["mse_normalized"] = Normalized.Mse, ["mae_normalized"] = Normalized.Mae,
            ["accuracy"] = Accuracy,
            ["baseline_mse"] = Baseline.Mse, ["baseline_mae"] = Baseline.Mae,
        },
        ["per_step"] = PerStep.Select((s, h) => new Dictionary<string, double> { ["step"] = h, ["mse"] = s.Mse, ["mae"] = s.Mae }).ToList(),
        ["per_dim"] = PerDim.Select((s, d) => new Dictionary<string, double> { ["dim"] = d, ["mse"] = s.Mse, ["mae"] = s.Mae }).ToList(),
    };
}
