using Vla.Model;
using Vla.Runtime;

namespace Vla.Inference;

/// <summary>
/// Real-time chunking for one prediction: the actions of the previous chunk that the robot has not executed yet when the
/// observation was taken, so the new chunk starts where the old one is going (<see cref="ChunkGuidance"/>).
/// </summary>
/// <param name="PreviousActions">Row-major (rows, per_action_dim) in the data's units; row 0 is the old chunk's action for the observation's step.</param>
/// <param name="InferenceDelay">Steps the robot executes from <paramref name="PreviousActions"/> before the new chunk arrives; held exactly.</param>
/// <param name="ExecutionHorizon">Where guidance ends (LeRobot's <c>execution_horizon</c>): steps from <paramref name="InferenceDelay"/> up to it are
/// guided with decaying weight; null for every row of <paramref name="PreviousActions"/>.</param>
public sealed record RtcRequest(float[] PreviousActions, int InferenceDelay, int? ExecutionHorizon = null)
{
    /// <summary>
    /// Checks the request against a model of <paramref name="horizon"/> steps of <paramref name="dim"/> values and returns the
    /// rows used and where guidance ends; <paramref name="what"/> names the request in errors.
    /// </summary>
    public (int Rows, int End) Validate(int horizon, int dim, string what)
    {
        if (PreviousActions.Length == 0 || PreviousActions.Length % dim != 0)
            throw new BadInputException($"{what}: prev_chunk has {PreviousActions.Length} values, not a whole number of {dim}-value actions (per_action_dim).");
        if (PreviousActions.Any(v => !float.IsFinite(v)))
            throw new BadInputException($"{what}: prev_chunk contains NaN or infinite values.");
        int rows = Math.Min(PreviousActions.Length / dim, horizon);
        if (InferenceDelay < 0 || InferenceDelay > rows)
            throw new BadInputException($"{what}: inference_delay is {InferenceDelay}, but it must be between 0 and the {rows} actions prev_chunk holds.");
        int end = ExecutionHorizon ?? rows;
        if (end < InferenceDelay || end > horizon)
            throw new BadInputException($"{what}: execution_horizon is {end}, but it must be between inference_delay ({InferenceDelay}) and the horizon ({horizon}).");
        return (rows, Math.Min(end, rows));
    }

    /// <summary>
    /// The normalized, zero-padded previous chunk (horizon·dim) and the prefix weights (horizon) for a model of
    /// <paramref name="horizon"/> steps of <paramref name="dim"/> values; <paramref name="what"/> names the request in errors.
    /// </summary>
    public (float[] Previous, float[] Weights) Prepare(int horizon, int dim, Data.Normalizer normalizer, PrefixSchedule schedule, string what)
    {
        var (rows, end) = Validate(horizon, dim, what);
        var previous = new float[horizon * dim];
        PreviousActions.AsSpan(0, rows * dim).CopyTo(previous);
        normalizer.NormalizeActions(previous.AsSpan(0, rows * dim));
        return (previous, ChunkGuidance.PrefixWeights(InferenceDelay, end, horizon, schedule));
    }
}

/// <summary>How real-time chunking guides the denoising.</summary>
/// <param name="MaxGuidanceWeight">Cap on the guidance weight (10, as the paper and LeRobot for 10 steps).</param>
/// <param name="Schedule">How the weights fall off after the frozen steps (LeRobot's default, linear: the paper's exp leaves almost no soft
/// steps in a short chunk, and measured weaker, see bench/README.md).</param>
/// <param name="ExactJacobian">Take the vector-Jacobian product through the head (the paper), or use the identity (default: what LeRobot's
/// code computes, a third of the cost, and measured better on our replays).</param>
public sealed record RtcSettings(double MaxGuidanceWeight = ChunkGuidance.DefaultMaxWeight, PrefixSchedule Schedule = PrefixSchedule.Linear, bool ExactJacobian = false);
