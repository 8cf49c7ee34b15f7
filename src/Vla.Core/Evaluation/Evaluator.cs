using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using Vla.Data;
using Vla.Inference;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Evaluation;

/// <summary>
/// Evaluates a checkpoint on one or more datasets: samples every window's chunk (seeded), and scores it
/// against the recorded actions per dataset and combined (<see cref="EvalMetrics"/> defines the figures).
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// Runs the evaluation. With <paramref name="predictionsCsv"/> set, writes one row per predicted value:
    /// <c>episode,step,horizon_step,dim,predicted,truth,dataset,dim_name</c> (data units; padded steps skipped; the episode as the
    /// data numbers it, LeRobot's <c>episode_index</c>; the dimension's name when the data or the checkpoint names it).
    /// </summary>
    public static async Task<EvalResult> RunAsync(VlaPredictor predictor, IReadOnlyList<string> datasets, EvalOptions options,
        TextWriter? predictionsCsv = null, CancellationToken ct = default)
    {
        var spec = predictor.Spec;
        int steps = options.NumInferenceSteps ?? spec.NumInferenceSteps;
        int batchSize = options.BatchSize ?? predictor.Data.BatchSize;
        int bins = options.NumActionBins ?? predictor.Config?.Model.ActionHeadConfig.NumActionBins ?? new Config.ActionHeadConfig().NumActionBins;
        if (steps < 1) throw new BadInputException($"num_inference_steps must be at least 1 (got {steps}).");
        if (batchSize < 1) throw new BadInputException($"The evaluation batch_size must be at least 1 (got {batchSize}).");
        var log = new List<string>
        {
            $"checkpoint: {predictor.Source}",
            $"model: horizon {spec.Horizon}, per_action_dim {spec.ActionDim}, {steps} Euler steps, seed {options.Seed}, batch {batchSize}, " +
            $"on {predictor.Device}, backbone in {spec.Dtype}",
        };
        var combined = new EvalMetrics(predictor.Normalizer, spec.Horizon, bins);
        var sections = new Dictionary<string, EvalMetrics>();
        var trajectories = new List<Trajectory>();
        using var generator = new Generator((ulong)options.Seed);
        predictionsCsv?.WriteLine("episode,step,horizon_step,dim,predicted,truth,dataset,dim_name");
        IReadOnlyList<string>? names = predictor.Normalizer.Stats.Action.Names;
        var run = new Run(predictor, options, steps, batchSize, bins, generator, predictionsCsv);

        foreach (var path in datasets)
        {
            var result = await EvaluateAsync(run, path, Math.Max(0, options.TrajectoryEpisodes - trajectories.Count), ct);
            var metrics = result.Metrics;
            names ??= result.Names;
            sections[path] = metrics;
            combined.Add(metrics);
            trajectories.AddRange(result.Trajectories);
            log.Add(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {result.Episodes} episodes, {metrics.Windows} windows in {result.Seconds:F1} s " +
                $"(model {1000 * result.ModelSeconds / Math.Max(1, metrics.Windows):F1} ms per window); MSE {metrics.Overall.Mse:G4} vs baseline {metrics.Baseline.Mse:G4}"));
            if (metrics.Overall.Mse >= metrics.Baseline.Mse)
                log.Add($"warning: on {path} the model does not beat the mean-chunk baseline (MSE {metrics.Overall.Mse:G4} ≥ {metrics.Baseline.Mse:G4}).");
        }
        return new EvalResult
        {
            Checkpoint = predictor.Source, NumInferenceSteps = steps, Seed = options.Seed, NumActionBins = bins,
            Combined = combined, Datasets = sections, Trajectories = trajectories, Log = log, ActionNames = names,
        };
    }

    /// <summary>What every dataset of one evaluation shares: the predictor, the settings resolved once, the seeded generator and the CSV.</summary>
    private sealed record Run(VlaPredictor Predictor, EvalOptions Options, int Steps, int BatchSize, int Bins, Generator Generator, TextWriter? PredictionsCsv);

    /// <summary>One dataset's figures, the trajectories drawn from it, its action names and its timings.</summary>
    private sealed record DatasetResult(EvalMetrics Metrics, IReadOnlyList<Trajectory> Trajectories, IReadOnlyList<string>? Names, int Episodes,
        double Seconds, double ModelSeconds);

    /// <summary>Samples and scores every window of the dataset at <paramref name="path"/>, drawing the first <paramref name="trajectoryEpisodes"/> episodes' trajectories.</summary>
    private static async Task<DatasetResult> EvaluateAsync(Run run, string path, int trajectoryEpisodes, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var predictor = run.Predictor;
        var spec = predictor.Spec;
        // The checkpoint's keys and cameras, but each evaluation path's own format and the episodes asked for here.
        var dataOptions = DataOptions.From(predictor.Data, spec.Cameras == 2) with { PerActionDim = null, VerifyImages = false, Episodes = run.Options.Episodes, Format = "auto", ImageFit = spec.ImageFit };
        var dataset = await EpisodeDataset.OpenAsync([path], dataOptions, ct: ct);
        var names = dataset.ActionNames ?? predictor.Normalizer.Stats.Action.Names;
        if (dataset.ActionDim != spec.ActionDim)
            throw new BadInputException($"{path}: its actions have {dataset.ActionDim} values but the checkpoint predicts per_action_dim = {spec.ActionDim}.");
        var loader = new BatchLoader(dataset, predictor.Normalizer, BatchLayout.Of(spec),
            new LoaderOptions
            {
                BatchSize = run.BatchSize, NumWorkers = predictor.Data.NumWorkers, Shuffle = false, MaxImagePixels = predictor.Data.MaxImagePixels,
                Device = predictor.Device, Transform = predictor.Policy.Transform,
            });
        var metrics = new EvalMetrics(predictor.Normalizer, spec.Horizon, run.Bins);
        var drawn = dataset.Episodes.Take(trajectoryEpisodes).ToDictionary(e => e.Index, e => new Trajectory(path, e.Id, e.Prompt, [], []));
        double modelSeconds = 0;
        int chunk = spec.Horizon * spec.ActionDim;
        foreach (var batch in loader.Epoch(0, ct))
        {
            using var _ = batch;
            using var guard = NativeCallGuard.Enter();
            using var scope = NewDisposeScope();
            var modelWatch = Stopwatch.StartNew();
            var sampled = predictor.Policy.SampleActions(batch.Input, run.Steps, generator: run.Generator);
            var predicted = sampled.cpu().contiguous().data<float>().ToArray();
            modelSeconds += modelWatch.Elapsed.TotalSeconds;
            var truth = batch.Actions.cpu().contiguous().data<float>().ToArray();
            var mask = batch.ActionMask.cpu().contiguous().data<bool>().ToArray();
            for (int i = 0; i < batch.Size; i++)
            {
                var p = predicted.AsSpan(i * chunk, chunk);
                var t = truth.AsSpan(i * chunk, chunk);
                var m = mask.AsSpan(i * spec.Horizon, spec.Horizon);
                var window = batch.Windows[i];
                var recorded = RecordedChunk(dataset, window, spec.Horizon, spec.ActionDim);
                metrics.Add(p, t, recorded, m);
                if (run.PredictionsCsv is not null || drawn.ContainsKey(window.Episode))
                    Record(predictor.Normalizer, spec.Horizon, spec.ActionDim, p.ToArray(), recorded, m.ToArray(), window,
                        dataset.Episodes[window.Episode].Id, path, names, run.PredictionsCsv, drawn);
            }
        }
        return new DatasetResult(metrics, [.. drawn.Values], names, dataset.Episodes.Count, watch.Elapsed.TotalSeconds, modelSeconds);
    }

    /// <summary>The actions recorded for <paramref name="window"/>'s chunk, in the data's units (zeros past the episode's end, where the mask is false).</summary>
    private static float[] RecordedChunk(EpisodeDataset dataset, Window window, int horizon, int dim)
    {
        var chunk = new float[horizon * dim];
        var steps = dataset.Episodes[window.Episode].Steps;
        for (int h = 0; h < horizon && window.Step + h < steps.Count; h++) steps[window.Step + h].Action.CopyTo(chunk, h * dim);
        return chunk;
    }

    private static void Record(Normalizer normalizer, int horizon, int dim, float[] predicted, float[] truth, bool[] mask, Window window, int episodeId,
        string path, IReadOnlyList<string>? names, TextWriter? csv, Dictionary<int, Trajectory> drawn)
    {
        normalizer.DenormalizeActions(predicted);
        if (drawn.TryGetValue(window.Episode, out var trajectory))
        {
            trajectory.Truth.Add(truth[..dim]);
            trajectory.Predicted.Add(predicted[..dim]);
        }
        if (csv is null) return;
        string dataset = Csv(path);
        for (int h = 0; h < horizon; h++)
        {
            if (!mask[h]) continue;
            for (int d = 0; d < dim; d++)
                csv.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{episodeId},{window.Step},{h},{d},{predicted[h * dim + d]:R},{truth[h * dim + d]:R},{dataset},{Csv(DimensionNames.Of(names, d))}"));
        }
    }

    private static string Csv(string text) => text.Contains(',') || text.Contains('"') ? $"\"{text.Replace("\"", "\"\"")}\"" : text;
}
