using System.Diagnostics;
using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Model.Tokenization;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>
/// Training of a <see cref="VlaModel"/> in one process or as one rank of a data-parallel job: AdamW with
/// warm-up and cosine decay, gradient clipping, the backbone in <c>model.vlm_config.dtype</c> on
/// <c>training.device</c>, seeded determinism on CPU, validation each epoch, <c>model_best</c>, periodic
/// checkpoints and exact resume. Layout: <c>&lt;checkpoint_dir&gt;/&lt;experiment_name&gt;/{checkpoints,logs,tensorboard}</c>.
/// </summary>
public sealed class Trainer : IDisposable
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
        /// <summary>
        /// Cancelled to stop at the next step boundary (SIGTERM, Ctrl-C): every rank stops after the same step, and with
        /// training.save_on_preempt that step is saved first. Unlike the cancellation token, nothing is abandoned mid-step.
        /// </summary>
        public CancellationToken Preempt { get; init; }
    }

    private readonly VlaConfig _config;
    private readonly Options _options;
    private readonly IProcessGroup _group;
    private readonly bool _leader;
    private readonly TrainingLog _log;
    private readonly VlaModel _model;
    private readonly PaliGemmaTokenizer _tokenizer;
    private readonly TrainStep _step;
    private readonly BatchLoader _loader;
    private readonly BatchLoader? _valLoader;
    private readonly Normalizer _normalizer;
    private readonly LearningRateSchedule _schedule;
    private readonly Generator _generator;
    private readonly string _experimentDir;
    private readonly int _firstEpoch;
    private readonly int _resumeBatches;     // batches of _firstEpoch already trained by the run resumed from
    private readonly double _resumeLossSum;
    private readonly long _firstStep;        // the step this process started from (0, or the resumed checkpoint's)
    private bool _preempted;                 // a stop was requested (Options.Preempt) and every rank agreed after a step
    private int _skippedReported;            // frames masked under data.skip_bad_frames already logged
    private long _guardLapses = NativeCallGuard.Lapses;
    private long _steps;
    private double? _best;
    private double _lr;
    private StepTimes _times = StepTimes.Zero;
    private ValidationMetrics? _lastValidation;
    private readonly Dictionary<int, double> _epochLosses = new();

    /// <summary>Trains as <paramref name="config"/> says; returns where the results went.</summary>
    public static async Task<TrainingResult> RunAsync(VlaConfig config, Options options, CancellationToken ct = default)
    {
        Trainer trainer;
        using (var setup = CancellationTokenSource.CreateLinkedTokenSource(ct, options.Preempt)) // a stop during setup abandons it: nothing trained yet
            trainer = await SetUpAsync(config, options, setup.Token);
        using (trainer) return trainer.Train(ct);
    }

    private Trainer(VlaConfig config, Options options, IProcessGroup group, TrainingLog log, string experimentDir, EpisodeDataset train,
        EpisodeDataset? val, NormalizationStats stats, Checkpoint.Loaded? resumed, Device device)
    {
        _config = config;
        _options = options;
        _group = group;
        _leader = group.Rank == 0;
        _log = log;
        _experimentDir = experimentDir;
        var t = config.Training;
        _normalizer = new Normalizer(stats, Normalizer.ParseMode(config.Data.NormalizationMode));
        (_model, _tokenizer) = resumed is not null ? (resumed.Model, resumed.Tokenizer) : ModelFactory.Create(config, t.Seed, device);
        _model.Backbone.GradientCheckpointing = t.GradientCheckpointing; // this run's choice, also when resuming (it changes no result)
        WarnAboutLongPrompts(train);
        if (group.WorldSize > 1) BroadcastWeights(_model, group);
        _step = new TrainStep(_model, config, group);
        if (resumed is not null) _step.Load(resumed.Directory);
        log.Info($"model: {_model.parameters().Sum(p => p.numel()) / 1e6:F2} M parameters ({_step.Trained.Sum(p => p.numel()) / 1e6:F2} M trainable) on {device}, " +
                 $"backbone in {ModelDtype.Name(_model.BackboneDtype)}" + (_step.Masters.Count > 0 ? $" with float32 master weights for its {_step.Masters.Count} trained tensors" : ""));

        var layout = BatchLayout.From(config);
        _loader = new BatchLoader(train, _normalizer, layout, LoaderOptionsFor(shuffle: true, device));
        _valLoader = val is null ? null : new BatchLoader(val, _normalizer, layout, LoaderOptionsFor(shuffle: false, device) with { StridedShards = true });
        _schedule = new LearningRateSchedule(config.Optimizer, config.LrScheduler, _loader.BatchesPerEpoch);
        _generator = new Generator((ulong)t.Seed); // a host generator: the same draws on every device, and resumable on any
        if (resumed is not null) RestoreRng(_generator, resumed.State.RngState);
        _steps = _firstStep = resumed?.State.Step ?? 0;
        _best = resumed?.State.BestValLoss;
        var state = resumed?.State;
        _resumeBatches = state?.BatchesInEpoch ?? 0;
        _resumeLossSum = state?.EpochLossSum ?? 0;
        _firstEpoch = state is null ? 1 : _resumeBatches > 0 ? state.Epoch : state.Epoch + 1;
        _lr = _schedule.At(_steps);
    }

    /// <summary>Validates the config, opens the data, picks the device, reads or computes the stats and builds (or resumes) the model.</summary>
    private static async Task<Trainer> SetUpAsync(VlaConfig config, Options options, CancellationToken ct)
    {
        bool resuming = options.ResumeCheckpoint is not null;
        ConfigValidator.Validate(config, ConfigRequirements.TrainData | ConfigRequirements.ValData | (resuming ? 0 : ConfigRequirements.Model));
        TorchRuntime.EnsureReady();
        var group = options.ProcessGroup ?? new SingleProcessGroup();
        if (config.Data.BatchSize % group.WorldSize != 0)
            throw new BadInputException($"data.batch_size ({config.Data.BatchSize}) is the global batch and must be divisible by the {group.WorldSize} processes.");
        var device = ComputeDevice.Resolve(config.Training.Device, "training.device", group.LocalRank, group.WorldSize);
        ModelDtype.Parse(config.Model.VlmConfig.Dtype);
        if (int.TryParse(Environment.GetEnvironmentVariable(WorkerLauncher.ThreadsVariable), out int threads) && threads > 0)
            set_num_threads(threads);
        var t = config.Training;
        string root = PathResolver.ResolveExisting(t.CheckpointDir, null) ?? Path.GetFullPath(t.CheckpointDir);
        string experimentDir = Path.Combine(root, t.ExperimentName);

        var train = await EpisodeDataset.OpenAsync(config, validation: false, ct);
        var val = config.Data.HasValidation ? await EpisodeDataset.OpenAsync(config, validation: true, ct) : null;

        bool leader = group.Rank == 0;
        if (leader) Directory.CreateDirectory(experimentDir);
        var log = new TrainingLog(leader ? experimentDir : null); // only rank 0 writes logs and checkpoints
        Checkpoint.Loaded? resumed = null;
        try
        {
            if (options.Log is not null && leader) log.Line += options.Log;
            if (group.WorldSize > 1) log.Info($"data parallel: {group.WorldSize} processes ({group.Description}), {config.Data.BatchSize / group.WorldSize} windows per process per step, {get_num_threads()} threads each");
            log.Info($"experiment {experimentDir}: {train.Episodes.Count} training episodes ({train.StepCount} windows)" +
                     (val is null ? ", no validation data" : $", {val.Episodes.Count} validation episodes ({val.StepCount} windows)"));
            foreach (var (name, data) in new[] { ("training", train), ("validation", val) })
                if (data is { BrokenFrames.Count: > 0 })
                    log.Info($"data.skip_bad_frames: {data.BrokenFrames.Count} broken {name} frame(s) left out with their windows (first: {data.BrokenFrames[0]})");
            if (config.Data.MaxSeqLen > 1)
                log.Info($"data.max_seq_len is {config.Data.MaxSeqLen}: the policy conditions on the current frame, so only that frame of each window is decoded");

            if (resuming)
            {
                resumed = Checkpoint.Load(options.ResumeCheckpoint!, device);
                Checkpoint.CheckCompatible(config, resumed.Config, options.ResumeCheckpoint!);
                var s = resumed.State;
                log.Info($"resuming from {options.ResumeCheckpoint} " + (s.BatchesInEpoch > 0 ? $"inside epoch {s.Epoch} after its batch {s.BatchesInEpoch}" : $"after epoch {s.Epoch}") + $", step {s.Step}");
            }
            var stats = resumed?.State.NormalizationStats ?? LoadOrComputeStats(config, train, experimentDir, log, leader);
            foreach (var warning in NormalizationWarning.Find(stats, Normalizer.ParseMode(config.Data.NormalizationMode), val ?? train))
                log.Info($"warning: normalization: {warning}");
            return new Trainer(config, options, group, log, experimentDir, train, val, stats, resumed, device);
        }
        catch
        {
            resumed?.Model.Dispose();
            log.Dispose();
            throw;
        }
    }

    private TrainingResult Train(CancellationToken ct)
    {
        string? preempted = null;
        for (int epoch = _firstEpoch; epoch <= _config.Training.Epochs; epoch++)
        {
            if (PreemptRequested()) // asked during setup or the last epoch's validation and saves
            {
                preempted = _steps > _firstStep ? SavePreempted(epoch - 1, 0, _loader.BatchesPerEpoch, ended: true) : "";
                break;
            }
            var (lossSum, batches, stopped) = RunEpoch(epoch, ct);
            if (_preempted)
            {
                preempted = SavePreempted(epoch, lossSum, batches, ended: false);
                break;
            }
            EndEpoch(epoch, lossSum, batches, stopped, ct);
            if (stopped) break;
        }
        _log.Info($"time per phase (s): {_times}");
        string best = Path.Combine(_experimentDir, "checkpoints", "model_best");
        return new TrainingResult(_experimentDir, _epochLosses.Count > 0 ? _epochLosses.Keys.Max() : _firstEpoch - 1, _steps,
            _epochLosses.Count > 0 ? _epochLosses.Values.Last() : double.NaN, _epochLosses, _lastValidation, Directory.Exists(best) ? best : null, _times, preempted);
    }

    /// <summary>Whether any rank was asked to stop (a collective: every rank asks after every step, so all stop after the same one).</summary>
    private bool PreemptRequested()
    {
        double asked = _options.Preempt.IsCancellationRequested ? 1 : 0;
        return (_group.WorldSize > 1 ? _group.AllReduceSum([asked])[0] : asked) > 0;
    }

    /// <summary>
    /// Saves the last finished step of a preempted run as checkpoint_epoch_N, with its place in the epoch, when
    /// training.save_on_preempt asks; returns the folder ("" when nothing was saved). An epoch whose batches all ran but
    /// whose end (validation, model_best, the epoch record) did not (<paramref name="ended"/> false) is resumed at that end.
    /// </summary>
    private string SavePreempted(int epoch, double lossSum, int batches, bool ended)
    {
        if (!_config.Training.SaveOnPreempt)
        {
            _log.Info($"stopped on request after step {_steps}; nothing saved (training.save_on_preempt is off)");
            return "";
        }
        string dir = Path.Combine(_experimentDir, "checkpoints", $"checkpoint_epoch_{epoch}");
        _group.Barrier();
        Save(dir, State(epoch, lossSum, batches, ended));
        _group.Barrier();
        _log.Info($"stopped on request after step {_steps}: saved {dir}; resume with --resume-checkpoint {dir}");
        return dir;
    }

    /// <summary>The trainer state after <paramref name="batches"/> batches of <paramref name="epoch"/>, whose end has run when <paramref name="ended"/>.</summary>
    private TrainerState State(int epoch, double lossSum, int batches, bool ended = true)
    {
        int partial = batches < _loader.BatchesPerEpoch || !ended ? batches : 0;
        return new TrainerState
        {
            Epoch = epoch, BatchesInEpoch = partial, EpochLossSum = partial > 0 ? lossSum : 0, Step = _steps, LearningRate = _lr, BestValLoss = _best,
            RngState = Convert.ToBase64String(_generator.get_state().bytes.ToArray()),
            ConfigYaml = ConfigWriter.ToYaml(_config), NormalizationStats = _normalizer.Stats,
        };
    }

    /// <summary>
    /// One pass over this rank's batches (a resumed epoch continues after the batches it had trained); returns the sum
    /// of the epoch's batch losses, its batches so far and whether training.max_steps was reached.
    /// </summary>
    private (double LossSum, int Batches, bool Stopped) RunEpoch(int epoch, CancellationToken ct)
    {
        var t = _config.Training;
        _model.train();
        bool resumed = epoch == _firstEpoch;
        double lossSum = resumed ? _resumeLossSum : 0;
        int batches = resumed ? _resumeBatches : 0, windowsSinceLog = 0;
        bool stopped = false;
        var logWatch = Stopwatch.StartNew();
        var wait = Stopwatch.StartNew();
        foreach (var batch in _loader.Epoch(epoch, ct, skip: batches))
        {
            using var _ = batch;
            _times += StepTimes.Zero with { DataWait = wait.Elapsed.TotalSeconds };
            _lr = _schedule.At(_steps);
            var result = _step.Run(batch, _generator, _lr, _steps, epoch);
            _times += result.Times;
            _steps++;
            batches++;
            stopped = t.MaxSteps > 0 && _steps >= t.MaxSteps;
            lossSum += result.Loss;
            windowsSinceLog += batch.Size;
            double samplesPerSecond = windowsSinceLog / Math.Max(logWatch.Elapsed.TotalSeconds, 1e-9);
            if (_leader) _options.Progress?.Invoke(new TrainProgress(epoch, t.Epochs, batches, _loader.BatchesPerEpoch, result.Loss, samplesPerSecond));
            if (_leader) _options.History?.Add(new TrainingHistory.StepLoss(_steps, epoch, result.Loss));
            if (_steps % t.LogInterval == 0)
            {
                var values = new Dictionary<string, object>
                {
                    ["type"] = "step", ["step"] = _steps, ["epoch"] = epoch, ["loss"] = (double)result.Loss, ["lr"] = _lr,
                    ["grad_norm"] = result.GradNorm, ["samples_per_s"] = samplesPerSecond,
                };
                if (_step.LossScale != 1) values["loss_scale"] = _step.LossScale;
                _log.Metrics("train", _steps, values);
                _log.Info($"epoch {epoch} step {_steps}: loss {result.Loss:F4}, lr {_lr:G3}, grad norm {result.GradNorm:F3}, {samplesPerSecond:F1} samples/s" +
                          (result.Skipped ? $" (float16 overflow: step skipped, loss scale now {_step.LossScale})" : ""));
                logWatch.Restart();
                windowsSinceLog = 0;
            }
            if (PreemptRequested()) _preempted = stopped = true;
            if (stopped) break;
            wait.Restart();
        }
        ReportSkippedFrames();
        if (NativeCallGuard.Lapses > _guardLapses)
            _log.Info($"warning: in {NativeCallGuard.Lapses - _guardLapses} training step(s) this process allocated more than {NativeCallGuard.BudgetBytes >> 20} MB, so a .NET collection " +
                      "could run while TorchSharp held unrooted scalars; lower data.num_workers or data.prefetch_batches if the run fails with a native error");
        _guardLapses = NativeCallGuard.Lapses;
        return (lossSum, batches, stopped);
    }

    /// <summary>Logs the frames every rank has masked out under data.skip_bad_frames so far (a collective: every rank calls it).</summary>
    private void ReportSkippedFrames()
    {
        if (!_config.Data.SkipBadFrames) return;
        int skipped = (int)_group.AllReduceSum([_loader.SkippedFrames])[0];
        if (skipped == _skippedReported) return;
        _log.Info($"data.skip_bad_frames: {skipped - _skippedReported} frame(s) could not be decoded and their windows were masked out of the loss ({skipped} in all" +
                  (_loader.FirstSkippedFrame is { } first ? $"; first on this rank: {first})" : ")"));
        _skippedReported = skipped;
    }

    /// <summary>
    /// Validates, records the epoch, and saves <c>model_best</c> and <c>checkpoint_epoch_N</c> as due; an epoch that
    /// training.max_steps cut short is saved with its position, so resuming finishes it.
    /// </summary>
    private void EndEpoch(int epoch, double lossSum, int batches, bool stopped, CancellationToken ct)
    {
        var t = _config.Training;
        double trainLoss = lossSum / Math.Max(1, batches);
        _epochLosses[epoch] = trainLoss;
        var validationWatch = Stopwatch.StartNew();
        _lastValidation = _valLoader is null ? null : Validation.Run(_model, _valLoader, _normalizer, _config, _group, ct);
        _times += StepTimes.Zero with { Validation = validationWatch.Elapsed.TotalSeconds };
        var record = new Dictionary<string, object> { ["type"] = "epoch", ["step"] = _steps, ["epoch"] = epoch, ["train_loss"] = trainLoss, ["lr"] = _lr };
        if (_lastValidation is not null)
        {
            record["val_loss"] = _lastValidation.Loss;
            record["val_action_mse"] = _lastValidation.ActionMse;
            record["val_baseline_mse"] = _lastValidation.BaselineMse;
        }
        _log.Metrics("epoch", _steps, record);
        if (_leader) _options.History?.Add(new TrainingHistory.EpochSummary(epoch, _steps, trainLoss, _lastValidation));
        _log.Info($"epoch {epoch}/{t.Epochs}: train loss {trainLoss:F4}" + (_lastValidation is null ? "" :
            $", val loss {_lastValidation.Loss:F4}, val action MSE {_lastValidation.ActionMse:F4} (mean-chunk baseline {_lastValidation.BaselineMse:F4})"));

        double score = _lastValidation?.Loss ?? trainLoss;
        var state = State(epoch, lossSum, batches);
        string checkpoints = Path.Combine(_experimentDir, "checkpoints");
        _group.Barrier();
        if (_best is null || score < _best)
        {
            _best = score;
            Save(Path.Combine(checkpoints, "model_best"), state with { BestValLoss = _best });
            _log.Info($"saved {Path.Combine(checkpoints, "model_best")} ({(_lastValidation is null ? "train" : "validation")} loss {score:F4})");
        }
        if (epoch % t.SaveEveryNEpochs == 0 || epoch == t.Epochs || stopped)
        {
            string dir = Path.Combine(checkpoints, $"checkpoint_epoch_{epoch}");
            Save(dir, state with { BestValLoss = _best });
            _log.Info($"saved {dir}" + (state.BatchesInEpoch > 0 ? $" (stopped inside epoch {epoch} after batch {state.BatchesInEpoch} of {_loader.BatchesPerEpoch}; resuming from it finishes the epoch)" : ""));
        }
        _group.Barrier(); // no rank runs ahead of a save in progress
    }

    private void Save(string dir, TrainerState state)
    {
        if (_leader) Checkpoint.Save(dir, _model, _tokenizer, _step.Save, state);
    }

    private LoaderOptions LoaderOptionsFor(bool shuffle, Device device) => new()
    {
        BatchSize = _config.Data.BatchSize / _group.WorldSize,
        Rank = _group.Rank,
        WorldSize = _group.WorldSize,
        NumWorkers = _config.Data.NumWorkers,
        Prefetch = _config.Data.PrefetchBatches,
        Shuffle = shuffle,
        Seed = _config.Training.Seed,
        MaxImagePixels = _config.Data.MaxImagePixels,
        SkipBadFrames = _config.Data.SkipBadFrames,
        Device = device,
        EncodePrompts = ModelFactory.PromptEncoder(_tokenizer, _config.Data.PromptMaxLen), // token ids made on the decoding threads
    };

    private static NormalizationStats LoadOrComputeStats(VlaConfig config, EpisodeDataset train, string experimentDir, TrainingLog log, bool leader)
    {
        string configured = config.Data.NormalizationStatsPath;
        if (!string.IsNullOrEmpty(configured) && PathResolver.ResolveExisting(configured, config.BaseDirectory) is { } path && File.Exists(path))
        {
            log.Info($"normalization stats from {path}");
            var loaded = NormalizationStats.Load(path);
            loaded.Require(Normalizer.ParseMode(config.Data.NormalizationMode), path);
            return loaded;
        }
        var stats = NormalizationStats.ForTraining(train, Normalizer.ParseMode(config.Data.NormalizationMode), out string source);
        string saved = Path.Combine(experimentDir, "normalization_stats.json");
        if (leader) stats.Save(saved);
        log.Info($"normalization stats: data.normalization_stats_path ('{configured}') does not exist, so they were taken from {source} and saved to {saved}");
        return stats;
    }

    /// <summary>Says once, up front, when prompts will be cut to <c>data.prompt_max_len</c> tokens.</summary>
    private void WarnAboutLongPrompts(EpisodeDataset train)
    {
        var lengths = train.Episodes.Select(e => e.Prompt).Distinct()
            .Select(p => (Prompt: p, Tokens: _tokenizer.EncodePrompt(p, int.MaxValue, out _).Length)).ToList();
        var cut = lengths.Where(p => p.Tokens > _config.Data.PromptMaxLen).ToList();
        if (cut.Count > 0)
            _log.Info($"warning: {cut.Count} of {lengths.Count} prompts are longer than data.prompt_max_len = {_config.Data.PromptMaxLen} tokens " +
                      $"and will be cut (longest: {cut.Max(p => p.Tokens)} tokens, \"{cut.MaxBy(p => p.Tokens).Prompt}\")");
    }

    /// <summary>Every rank starts from rank 0's weights (sent as float32, which holds every dtype's values exactly).</summary>
    private static void BroadcastWeights(VlaModel model, IProcessGroup group)
    {
        using var noGrad = no_grad();
        foreach (var p in model.parameters())
        {
            using var scope = NewDisposeScope();
            var values = p.to_type(ScalarType.Float32).contiguous();
            group.Broadcast(values, root: 0);
            p.copy_(values);
        }
    }

    private static void RestoreRng(Generator generator, string state)
    {
        if (string.IsNullOrEmpty(state)) return;
        var bytes = Convert.FromBase64String(state);
        using var tensorState = tensor(bytes, ScalarType.Byte);
        generator.set_state(tensorState);
    }

    /// <summary>Frees the model, the optimizer, the generator and the log.</summary>
    public void Dispose()
    {
        _step.Dispose();
        _model.Dispose();
        _generator.Dispose();
        _log.Dispose();
    }
}
