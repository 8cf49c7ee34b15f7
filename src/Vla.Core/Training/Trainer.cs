using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>
/// Single-process training of a <see cref="VlaModel"/>: AdamW with warm-up and cosine decay, gradient
/// clipping, seeded determinism on CPU, validation each epoch, <c>model_best</c>, periodic checkpoints
/// and exact resume. Layout: <c>&lt;checkpoint_dir&gt;/&lt;experiment_name&gt;/{checkpoints,logs,tensorboard}</c>.
/// </summary>
public sealed class Trainer
{
    /// <summary>How a run is started and observed.</summary>
    public sealed record Options
    {
        /// <summary>A checkpoint folder to resume from.</summary>
        public string? ResumeCheckpoint { get; init; }
        /// <summary>Called after every step (the command line's progress bar).</summary>
        public Action<TrainProgress>? Progress { get; init; }
        /// <summary>Called with every train.log line.</summary>
        public Action<string>? Log { get; init; }
        /// <summary>Filled with every step's loss and every epoch's results as they happen (rank 0 only).</summary>
        public TrainingHistory? History { get; init; }
        /// <summary>The data-parallel group this process belongs to (single process when null).</summary>
        public IProcessGroup? ProcessGroup { get; init; }
    }

    private const int ValidationSeedOffset = 7919; // fixed noise and times for validation, apart from training's

    /// <summary>Trains as <paramref name="config"/> says; returns where the results went.</summary>
    public static async Task<TrainingResult> RunAsync(VlaConfig config, Options options, CancellationToken ct = default)
    {
        bool resuming = options.ResumeCheckpoint is not null;
        ConfigValidator.Validate(config, ConfigRequirements.TrainData | ConfigRequirements.ValData | (resuming ? 0 : ConfigRequirements.Model));
        TorchRuntime.EnsureReady();
        var group = options.ProcessGroup ?? new SingleProcessGroup();
        bool leader = group.Rank == 0;
        if (config.Data.BatchSize % group.WorldSize != 0)
            throw new BadInputException($"data.batch_size ({config.Data.BatchSize}) is the global batch and must be divisible by the {group.WorldSize} processes.");
        if (int.TryParse(Environment.GetEnvironmentVariable(WorkerLauncher.ThreadsVariable), out int threads) && threads > 0)
            set_num_threads(threads);
        var t = config.Training;
        string root = PathResolver.ResolveExisting(t.CheckpointDir, null) ?? Path.GetFullPath(t.CheckpointDir);
        string experimentDir = Path.Combine(root, t.ExperimentName);
        string checkpoints = Path.Combine(experimentDir, "checkpoints");

        var train = await EpisodeDataset.OpenAsync(config, validation: false, ct);
        var val = config.Data.ValParquetFiles.Count > 0 ? await EpisodeDataset.OpenAsync(config, validation: true, ct) : null;

        if (leader) Directory.CreateDirectory(experimentDir);
        using var log = new TrainingLog(leader ? experimentDir : null); // only rank 0 writes logs and checkpoints
        if (options.Log is not null && leader) log.Line += options.Log;
        if (group.WorldSize > 1) log.Info($"data parallel: {group.WorldSize} processes ({group.Description}), {config.Data.BatchSize / group.WorldSize} windows per process per step, {get_num_threads()} threads each");
        log.Info($"experiment {experimentDir}: {train.Episodes.Count} training episodes ({train.StepCount} windows)" +
                 (val is null ? ", no validation data" : $", {val.Episodes.Count} validation episodes ({val.StepCount} windows)"));

        Checkpoint.Loaded? resumed = null;
        if (resuming)
        {
            resumed = Checkpoint.Load(options.ResumeCheckpoint!);
            Checkpoint.CheckCompatible(config, resumed.Config, options.ResumeCheckpoint!);
            log.Info($"resuming from {options.ResumeCheckpoint} after epoch {resumed.State.Epoch}, step {resumed.State.Step}");
        }
        var stats = resumed?.State.NormalizationStats ?? LoadOrComputeStats(config, train, experimentDir, log, leader);
        var normalizer = new Normalizer(stats, Normalizer.ParseMode(config.Data.NormalizationMode));

        manual_seed(t.Seed);
        using var model = resumed?.Model ?? VlaModel.Create(config, t.Seed);
        WarnAboutLongPrompts(model, train, config, log);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        foreach (var p in model.parameters())
        {
            using var data = p.detach();
            group.Broadcast(data, root: 0); // every rank starts from rank 0's weights
        }
        log.Info($"model: {model.parameters().Sum(p => p.numel()) / 1e6:F2} M parameters ({parameters.Sum(p => p.numel()) / 1e6:F2} M trainable)");
        var o = config.Optimizer;
        using var optimizer = optim.AdamW(parameters, o.Lr, o.Betas[0], o.Betas[1], weight_decay: o.WeightDecay);
        if (resumed is not null) Checkpoint.LoadOptimizer(options.ResumeCheckpoint!, optimizer);

        var layout = BatchLayout.From(config);
        var loader = new BatchLoader(train, normalizer, layout, LoaderOptionsFor(config, group, shuffle: true));
        var valLoader = val is null ? null : new BatchLoader(val, normalizer, layout, LoaderOptionsFor(config, group, shuffle: false) with { StridedShards = true });
        var schedule = new LearningRateSchedule(o, config.LrScheduler, loader.BatchesPerEpoch);
        using var generator = new Generator((ulong)t.Seed);
        if (resumed is not null) RestoreRng(generator, resumed.State.RngState);

        long step = resumed?.State.Step ?? 0;
        double? best = resumed?.State.BestValLoss;
        string? bestDir = null;
        var timing = new Dictionary<string, double> { ["data_wait"] = 0, ["forward"] = 0, ["backward"] = 0, ["optimizer"] = 0, ["validation"] = 0 };
        var epochLosses = new Dictionary<int, double>();
        ValidationMetrics? lastValidation = null;
        int firstEpoch = (resumed?.State.Epoch ?? 0) + 1;
        double lr = schedule.At(step);

        bool stop = false;
        for (int epoch = firstEpoch; epoch <= t.Epochs && !stop; epoch++)
        {
            model.train();
            double lossSum = 0;
            int batches = 0, windowsSinceLog = 0;
            var logWatch = Stopwatch.StartNew();
            var watch = Stopwatch.StartNew();
            foreach (var batch in loader.Epoch(epoch, ct))
            {
                using var _ = batch;
                timing["data_wait"] += watch.Elapsed.TotalSeconds;
                using var guard = NativeCallGuard.Enter();
                using var scope = NewDisposeScope();
                lr = schedule.At(step);
                foreach (var paramGroup in optimizer.ParamGroups) paramGroup.LearningRate = lr;

                watch.Restart();
                // Noise and flow times are drawn for the whole global batch and sliced, so any number of
                // processes trains on exactly the same numbers as one process would.
                var (noise, time) = GlobalNoise(batch, group, generator);
                double stepsPerRank = group.AllReduceSum([batch.ActionMask.sum().item<long>()])[0] / group.WorldSize;
                var loss = model.ComputeLoss(batch, noise, time, stepsPerRank: stepsPerRank);
                float lossValue = (float)(group.AllReduceSum([loss.item<float>()])[0] / group.WorldSize);
                timing["forward"] += watch.Elapsed.TotalSeconds;
                if (!float.IsFinite(lossValue))
                    throw new VlaException($"The training loss became {lossValue} at step {step + 1} (epoch {epoch}); no weights were written. " +
                        "Try a lower optimizer.lr, a smaller lr_scheduler.warmup_steps ramp, or check the normalization stats for near-constant dimensions.");

                watch.Restart();
                loss.backward();
                timing["backward"] += watch.Elapsed.TotalSeconds;
                if (group.WorldSize > 1)
                {
                    var reduceWatch = Stopwatch.StartNew();
                    GradientAverager.Average(parameters, group);
                    timing["all_reduce"] = timing.GetValueOrDefault("all_reduce") + reduceWatch.Elapsed.TotalSeconds;
                }
                watch.Restart();
                double gradNorm = t.GradClipNorm > 0 ? nn.utils.clip_grad_norm_(parameters, t.GradClipNorm) : GradientNorm(parameters);
                optimizer.step();
                optimizer.zero_grad();
                timing["optimizer"] += watch.Elapsed.TotalSeconds;

                step++;
                batches++;
                if (t.MaxSteps > 0 && step >= t.MaxSteps) stop = true;
                lossSum += lossValue;
                windowsSinceLog += batch.Size;
                double samplesPerSecond = windowsSinceLog / Math.Max(logWatch.Elapsed.TotalSeconds, 1e-9);
                if (leader) options.Progress?.Invoke(new TrainProgress(epoch, t.Epochs, batches, loader.BatchesPerEpoch, lossValue, samplesPerSecond));
                if (leader) options.History?.Add(new TrainingHistory.StepLoss(step, epoch, lossValue));
                if (step % t.LogInterval == 0)
                {
                    log.Metrics("train", step, new Dictionary<string, object>
                    {
                        ["type"] = "step", ["step"] = step, ["epoch"] = epoch, ["loss"] = (double)lossValue, ["lr"] = lr,
                        ["grad_norm"] = gradNorm, ["samples_per_s"] = samplesPerSecond,
                    });
                    log.Info($"epoch {epoch} step {step}: loss {lossValue:F4}, lr {lr:G3}, grad norm {gradNorm:F3}, {samplesPerSecond:F1} samples/s");
                    logWatch.Restart();
                    windowsSinceLog = 0;
                }
                watch.Restart();
                if (stop) break;
            }
            double trainLoss = lossSum / Math.Max(1, batches);
            epochLosses[epoch] = trainLoss;

            var validationWatch = Stopwatch.StartNew();
            lastValidation = valLoader is null ? null : Validate(model, valLoader, normalizer, config, group, ct);
            timing["validation"] += validationWatch.Elapsed.TotalSeconds;
            var record = new Dictionary<string, object> { ["type"] = "epoch", ["step"] = step, ["epoch"] = epoch, ["train_loss"] = trainLoss, ["lr"] = lr };
            if (lastValidation is not null)
            {
                record["val_loss"] = lastValidation.Loss;
                record["val_action_mse"] = lastValidation.ActionMse;
                record["val_baseline_mse"] = lastValidation.BaselineMse;
            }
            log.Metrics("epoch", step, record);
            if (leader) options.History?.Add(new TrainingHistory.EpochSummary(epoch, step, trainLoss, lastValidation));
            log.Info($"epoch {epoch}/{t.Epochs}: train loss {trainLoss:F4}" + (lastValidation is null ? "" :
                $", val loss {lastValidation.Loss:F4}, val action MSE {lastValidation.ActionMse:F4} (mean-chunk baseline {lastValidation.BaselineMse:F4})"));

            double score = lastValidation?.Loss ?? trainLoss;
            var state = new TrainerState
            {
                Epoch = epoch, Step = step, LearningRate = lr, BestValLoss = best,
                RngState = Convert.ToBase64String(generator.get_state().bytes.ToArray()),
                ConfigYaml = ConfigWriter.ToYaml(config), NormalizationStats = stats,
            };
            group.Barrier();
            if (best is null || score < best)
            {
                best = score;
                bestDir = Path.Combine(checkpoints, "model_best");
                if (leader) Checkpoint.Save(bestDir, model, optimizer, state with { BestValLoss = best });
                log.Info($"saved {bestDir} ({(lastValidation is null ? "train" : "validation")} loss {score:F4})");
            }
            if (epoch % t.SaveEveryNEpochs == 0 || epoch == t.Epochs || stop)
            {
                string dir = Path.Combine(checkpoints, $"checkpoint_epoch_{epoch}");
                if (leader) Checkpoint.Save(dir, model, optimizer, state with { BestValLoss = best });
                log.Info($"saved {dir}");
            }
            group.Barrier(); // no rank runs ahead of a save in progress
        }
        log.Info("time per phase (s): " + string.Join(", ", timing.Select(kv => $"{kv.Key} {kv.Value:F1}")));
        return new TrainingResult(experimentDir, epochLosses.Count > 0 ? epochLosses.Keys.Max() : firstEpoch - 1, step, epochLosses.Count > 0 ? epochLosses.Values.Last() : double.NaN,
            epochLosses, lastValidation, bestDir ?? (Directory.Exists(Path.Combine(checkpoints, "model_best")) ? Path.Combine(checkpoints, "model_best") : null), timing);
    }

    private static LoaderOptions LoaderOptionsFor(VlaConfig config, IProcessGroup group, bool shuffle) => new()
    {
        BatchSize = config.Data.BatchSize / group.WorldSize,
        Rank = group.Rank,
        WorldSize = group.WorldSize,
        NumWorkers = config.Data.NumWorkers,
        Prefetch = config.Data.PrefetchBatches,
        Shuffle = shuffle,
        Seed = config.Training.Seed,
        MaxImagePixels = config.Data.MaxImagePixels,
    };

    private static NormalizationStats LoadOrComputeStats(VlaConfig config, EpisodeDataset train, string experimentDir, TrainingLog log, bool leader)
    {
        string configured = config.Data.NormalizationStatsPath;
        if (!string.IsNullOrEmpty(configured) && PathResolver.ResolveExisting(configured, config.BaseDirectory) is { } path && File.Exists(path))
        {
            log.Info($"normalization stats from {path}");
            return NormalizationStats.Load(path);
        }
        var stats = NormalizationStats.Compute(train);
        string saved = Path.Combine(experimentDir, "normalization_stats.json");
        if (leader) stats.Save(saved);
        log.Info($"normalization stats: data.normalization_stats_path ('{configured}') does not exist, so they were computed from the training data and saved to {saved}");
        return stats;
    }

    /// <summary>
    /// Validation loss, sampled-chunk MSE and the mean-chunk baseline over every validation window. Each
    /// window's noise and flow time come from a generator seeded by the run seed and the window itself, so
    /// the figures do not depend on batch size, sharding or the number of processes.
    /// </summary>
    public static ValidationMetrics Validate(VlaModel model, BatchLoader loader, Normalizer normalizer, VlaConfig config, IProcessGroup? group = null, CancellationToken ct = default)
    {
        model.eval();
        using var noGrad = no_grad();
        var mean = (float[])normalizer.Stats.Action.Mean.Clone();
        normalizer.NormalizeActions(mean);
        double loss = 0, mse = 0, baseline = 0, weight = 0;
        foreach (var batch in loader.Epoch(0, ct))
        {
            using var _ = batch;
            using var guard = NativeCallGuard.Enter();
            using var scope = NewDisposeScope();
            var (noise, time, start) = WindowNoise(batch, config.Training.Seed + ValidationSeedOffset);
            double steps = batch.ActionMask.sum().item<long>();
            loss += model.ComputeLoss(batch, noise, time).item<float>() * steps;
            var sampled = model.SampleActions(batch.Images, batch.Prompts, batch.State, config.Model.ActionHeadConfig.NumInferenceSteps, noise: start);
            mse += VlaModel.MaskedMse(sampled, batch.Actions, batch.ActionMask).item<float>() * steps;
            var meanChunk = tensor(mean).expand_as(batch.Actions);
            baseline += VlaModel.MaskedMse(meanChunk, batch.Actions, batch.ActionMask).item<float>() * steps;
            weight += steps;
        }
        model.train();
        var totals = (group ?? new SingleProcessGroup()).AllReduceSum([loss, mse, baseline, weight]); // each rank saw its own windows
        return new ValidationMetrics(totals[0] / totals[3], totals[1] / totals[3], totals[2] / totals[3]);
    }

    /// <summary>Per-window loss noise, flow time and sampling start noise, each from a generator seeded by the window.</summary>
    private static (Tensor Noise, Tensor Time, Tensor Start) WindowNoise(VlaBatch batch, long seed)
    {
        long horizon = batch.Actions.shape[1], dim = batch.Actions.shape[2];
        var noise = new List<Tensor>();
        var time = new List<Tensor>();
        var start = new List<Tensor>();
        foreach (var w in batch.Windows)
        {
            using var generator = new Generator((ulong)(seed * 1_000_003 + w.Episode * 10_007L + w.Step));
            noise.Add(randn([1, horizon, dim], generator: generator));
            time.Add(VlaModel.SampleTime(1, generator));
            start.Add(randn([1, horizon, dim], generator: generator));
        }
        return (cat(noise, 0), cat(time, 0), cat(start, 0));
    }

    /// <summary>Draws ε and t for the global batch and returns this rank's contiguous slice of both.</summary>
    private static (Tensor Noise, Tensor Time) GlobalNoise(VlaBatch batch, IProcessGroup group, Generator generator)
    {
        int local = batch.Size;
        int global = (int)group.AllReduceSum([local])[0];
        var (offset, _) = BatchLoader.Slice(global, group.Rank, group.WorldSize);
        var noise = randn([global, batch.Actions.shape[1], batch.Actions.shape[2]], batch.Actions.dtype, batch.Actions.device, generator: generator);
        var time = VlaModel.SampleTime(global, generator, batch.Actions.device);
        return (noise.narrow(0, offset, local), time.narrow(0, offset, local));
    }

    /// <summary>Says once, up front, when prompts will be cut to <c>data.prompt_max_len</c> tokens.</summary>
    private static void WarnAboutLongPrompts(VlaModel model, EpisodeDataset train, VlaConfig config, TrainingLog log)
    {
        var lengths = train.Episodes.Select(e => e.Prompt).Distinct()
            .Select(p => (Prompt: p, Tokens: model.Tokenizer.EncodePrompt(p, int.MaxValue, out _).Length)).ToList();
        var cut = lengths.Where(p => p.Tokens > config.Data.PromptMaxLen).ToList();
        if (cut.Count > 0)
            log.Info($"warning: {cut.Count} of {lengths.Count} prompts are longer than data.prompt_max_len = {config.Data.PromptMaxLen} tokens " +
                     $"and will be cut (longest: {cut.Max(p => p.Tokens)} tokens, \"{cut.MaxBy(p => p.Tokens).Prompt}\")");
    }

    /// <summary>The global L2 norm of all gradients (what clipping would measure), without clipping.</summary>
    private static double GradientNorm(IReadOnlyList<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var norms = parameters.Where(p => p.grad is not null).Select(p => p.grad!.norm()).ToArray();
        return norms.Length == 0 ? 0 : stack(norms).norm().item<float>();
    }

    private static void RestoreRng(Generator generator, string state)
    {
        if (string.IsNullOrEmpty(state)) return;
        var bytes = Convert.FromBase64String(state);
        using var tensorState = tensor(bytes, ScalarType.Byte);
        generator.set_state(tensorState);
    }
}
