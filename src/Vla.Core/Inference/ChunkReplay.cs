using Vla.Data;
using Vla.Runtime;

namespace Vla.Inference;

/// <summary>How a replay plays the robot: a new chunk every <paramref name="Execute"/> steps, arriving <paramref name="Delay"/> steps late.</summary>
/// <param name="Delay">Steps between taking the observation and the chunk's arrival, during which the previous chunk keeps running.</param>
/// <param name="Execute">Steps between requests (the execution horizon of naive chunking).</param>
/// <param name="Rtc">Also replay with real-time chunking, from the same noise.</param>
/// <param name="ExecutionHorizon">RTC's guided prefix end (null: every remaining action of the previous chunk).</param>
/// <param name="Steps">Euler steps (null: the checkpoint's).</param>
/// <param name="Seed">Seed of the sampled noise; round k of every mode uses seed + k, so the modes differ only by the guidance.</param>
public sealed record ReplayOptions(int Delay, int Execute, bool Rtc = false, int? ExecutionHorizon = null, int? Steps = null, long Seed = 0);

/// <summary>What one mode of a replay scored, in normalized units (as the evaluation's MSE).</summary>
/// <param name="Mode"><c>naive</c> or <c>rtc</c>.</param>
/// <param name="Mse">Mean squared error of the executed actions against the recorded ones, over every step and dimension.</param>
/// <param name="MeanJump">Mean, over chunk boundaries, of the RMS over dimensions of the change from the last action of the old chunk to the first of the new.</param>
/// <param name="MaxJump">The largest such change.</param>
/// <param name="Executed">Per episode, the executed actions (steps × dims, data units), for plots.</param>
public sealed record ReplayMode(string Mode, double Mse, double MeanJump, double MaxJump, IReadOnlyList<float[][]> Executed);

/// <summary>A replay's figures.</summary>
/// <param name="Episodes">Episode ids replayed.</param>
/// <param name="Steps">Steps executed over all episodes.</param>
/// <param name="Boundaries">Chunk switches scored.</param>
/// <param name="RecordedJump">The same RMS change between consecutive recorded actions at the boundary steps: the motion itself.</param>
/// <param name="Modes">Naive, then RTC when asked for.</param>
public sealed record ReplayResult(IReadOnlyList<int> Episodes, int Steps, int Boundaries, double RecordedJump, IReadOnlyList<ReplayMode> Modes);

/// <summary>
/// Plays recorded episodes as a robot runs a chunking policy: chunk k is requested with the observation of step k·S and
/// arrives D steps later (the first one is waited for); until then the robot executes the previous chunk. The executed
/// actions are scored against the recorded ones, and the change at each switch measures how much the robot would jerk.
/// With RTC the request carries the previous chunk's remaining actions (<see cref="RtcRequest"/>).
/// Episodes advance together, one batch per round.
/// </summary>
public static class ChunkReplay
{
    /// <summary>Replays every episode of <paramref name="dataset"/> with <paramref name="predictor"/>.</summary>
    public static ReplayResult Run(VlaPredictor predictor, EpisodeDataset dataset, ReplayOptions options, CancellationToken ct = default)
    {
        int h = predictor.Spec.Horizon, dim = predictor.Spec.ActionDim, d = options.Delay, s = options.Execute;
        if (d < 0 || s < 1 || d >= s || s + d > h)
            throw new BadInputException($"ReplayOptions.Delay {d} and ReplayOptions.Execute {s} do not fit a horizon of {h}: a chunk must cover the {s} steps it runs plus the {d} it waits, and the delay must be shorter than the interval (0 ≤ delay < execute ≤ horizon − delay).");
        if (dataset.Episodes.Count == 0) throw new BadInputException("There are no episodes to replay.");
        if (dataset.ActionDim != dim)
            throw new BadInputException($"{dataset.Files[0]}: its actions have {dataset.ActionDim} values but the checkpoint predicts per_action_dim = {dim}.");
        var modes = new List<ReplayMode> { Play(predictor, dataset, options, rtc: false, ct) };
        if (options.Rtc) modes.Add(Play(predictor, dataset, options, rtc: true, ct));

        var recorded = new List<double>();
        int boundaries = 0;
        foreach (var episode in dataset.Episodes)
            foreach (int j in BoundarySteps(episode.Length, s, d))
            {
                recorded.Add(Rms(Normalized(predictor, episode.Steps[j].Action), Normalized(predictor, episode.Steps[j - 1].Action)));
                boundaries++;
            }
        return new ReplayResult(dataset.Episodes.Select(e => e.Id).ToList(), dataset.StepCount, boundaries,
            recorded.Count == 0 ? 0 : recorded.Average(), modes);
    }

    /// <summary>The steps at which a new chunk takes over: r_k + D for k ≥ 1.</summary>
    public static IEnumerable<int> BoundarySteps(int length, int execute, int delay)
    {
        for (int r = execute; r + delay < length; r += execute) yield return r + delay;
    }

    private static ReplayMode Play(VlaPredictor predictor, EpisodeDataset dataset, ReplayOptions options, bool rtc, CancellationToken ct)
    {
        int s = options.Execute, d = options.Delay;
        bool wrist = predictor.Spec.Cameras == 2;
        var episodes = dataset.Episodes;
        var executed = episodes.Select(e => new float[e.Length][]).ToArray();
        var previous = new ActionChunk?[episodes.Count];
        int longest = episodes.Max(e => e.Length);
        for (int round = 0, r = 0; r < longest; round++, r += s)
        {
            ct.ThrowIfCancellationRequested();
            var active = Enumerable.Range(0, episodes.Count).Where(i => r < episodes[i].Length).ToList();
            var observations = active.Select(i =>
            {
                var e = episodes[i];
                return new RobotObservation([new DatasetFrame(dataset.Frames, e, r, 1)], wrist ? [new DatasetFrame(dataset.Frames, e, r, 2)] : null,
                    e.Prompt, e.Steps[r].State);
            }).ToList();
            var requests = active.Select(i => rtc && previous[i] is { } old
                ? new RtcRequest(old.Values[(s * old.PerActionDim)..], d, options.ExecutionHorizon)
                : null).ToList();
            var chunks = predictor.PredictBatch(observations, options.Steps, options.Seed + round, rtc ? requests : null);
            for (int k = 0; k < active.Count; k++)
            {
                int i = active[k];
                var chunk = chunks[k];
                // This chunk runs from its arrival (r + D; the first is waited for) until the next one arrives (r + S + D).
                int from = round == 0 ? 0 : r + d, to = Math.Min(r + s + d, episodes[i].Length);
                for (int j = from; j < to; j++) executed[i][j] = chunk.Steps[j - r];
                previous[i] = chunk;
            }
        }

        double squared = 0;
        long count = 0;
        var jumps = new List<double>();
        for (int i = 0; i < episodes.Count; i++)
        {
            var e = episodes[i];
            for (int j = 0; j < e.Length; j++)
            {
                var a = Normalized(predictor, executed[i][j]);
                var truth = Normalized(predictor, e.Steps[j].Action);
                for (int k = 0; k < a.Length; k++) squared += (a[k] - truth[k]) * (double)(a[k] - truth[k]);
                count += a.Length;
            }
            foreach (int j in BoundarySteps(e.Length, s, d))
                jumps.Add(Rms(Normalized(predictor, executed[i][j]), Normalized(predictor, executed[i][j - 1])));
        }
        return new ReplayMode(rtc ? "rtc" : "naive", squared / Math.Max(count, 1), jumps.Count == 0 ? 0 : jumps.Average(),
            jumps.Count == 0 ? 0 : jumps.Max(), executed);
    }

    private static float[] Normalized(VlaPredictor predictor, float[] action)
    {
        var copy = (float[])action.Clone();
        predictor.Normalizer.NormalizeActions(copy);
        return copy;
    }

    private static double Rms(float[] a, float[] b)
    {
        double sum = 0;
        for (int k = 0; k < a.Length; k++) sum += (a[k] - b[k]) * (double)(a[k] - b[k]);
        return Math.Sqrt(sum / a.Length);
    }
}
