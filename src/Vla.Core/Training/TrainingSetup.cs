using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>
/// What a training run starts from: the checked config, the process group and device, the run's folder and logs, the
/// opened data and its loaders, the normalization statistics, and the model, built from the config or resumed from a
/// checkpoint with its trainer state, on every rank starting from rank 0's weights. Owns the model and the log until
/// <see cref="Trainer"/> takes them.
/// </summary>
public sealed class TrainingSetup : IDisposable
{
    /// <summary>The run's configuration.</summary>
    public required VlaConfig Config { get; init; }
    /// <summary>The ranks training together (one for a single process).</summary>
    public required IProcessGroup Group { get; init; }
    /// <summary>The run's folder: <c>training.checkpoint_dir/training.experiment_name</c>.</summary>
    public required string ExperimentDir { get; init; }
    /// <summary>train.log, metrics.jsonl and TensorBoard (rank 0 writes).</summary>
    public required TrainingLog Log { get; init; }
    /// <summary>Maps the data's units to the model's.</summary>
    public required Normalizer Normalizer { get; init; }
    /// <summary>The policy being trained, on the run's device.</summary>
    public required ITrainablePolicy Policy { get; init; }
    /// <summary>This rank's training batches.</summary>
    public required BatchLoader Train { get; init; }
    /// <summary>This rank's validation batches, or null without validation data.</summary>
    public required BatchLoader? Validation { get; init; }
    /// <summary>The state of the checkpoint resumed from, or null for a new run.</summary>
    public required TrainerState? Resumed { get; init; }
    /// <summary>The checkpoint folder resumed from.</summary>
    public string? ResumedFrom { get; init; }

    /// <summary>
    /// Checks the config, opens the data, picks the device, reads or computes the statistics and builds (or resumes) the
    /// model; a cancellation meanwhile abandons it, since nothing trained yet.
    /// </summary>
    public static async Task<TrainingSetup> OpenAsync(VlaConfig config, Trainer.Options options, CancellationToken ct)
    {
        bool resuming = options.ResumeCheckpoint is not null;
        ConfigValidator.Validate(config, ConfigRequirements.TrainData | ConfigRequirements.ValData | (resuming ? 0 : ConfigRequirements.Model));
        TorchRuntime.EnsureReady();
        if (Pi0Factory.Trains(config)) config = Pi0Factory.Adopt(config); // its normalization is the pretrained policy's
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
        var log = new TrainingLog(leader ? experimentDir : null, options.Wording); // only rank 0 writes logs and checkpoints
        Checkpoint.Loaded? resumed = null;
        ITrainablePolicy? policy = null;
        try
        {
            if (options.Log is not null && leader) log.Line += options.Log;
            DescribeData(config, group, log, experimentDir, train, val);
            if (resuming) resumed = Resume(options.ResumeCheckpoint!, config, device, log);
            var mode = Normalizer.ParseMode(config.Data.NormalizationMode);
            var stats = resumed?.State.NormalizationStats ?? (config.Model.PretrainedStats ? PretrainedStats(config, log) : LoadOrComputeStats(config, train, experimentDir, log, leader));
            foreach (var warning in NormalizationWarning.Find(stats, mode, val ?? train))
                log.Info($"warning: normalization: {warning}");
            policy = resumed?.Policy ?? ModelFactory.FromConfig(config, t.Seed, device);
            var normalizer = Normalizer.For(stats, mode, policy.Spec.Normalization);
            policy.GradientCheckpointing = t.GradientCheckpointing; // this run's choice, also when resuming (it changes no result)
            WarnAboutLongPrompts(train, policy.Transform, log);
            WeightBroadcast.FromRoot(policy.Module.parameters(), group);

            var layout = BatchLayout.Of(policy.Spec);
            var trainLoader = new BatchLoader(train, normalizer, layout, LoaderOptions(config, group, policy.Transform, device, shuffle: true));
            var valLoader = val is null ? null : new BatchLoader(val, normalizer, layout, LoaderOptions(config, group, policy.Transform, device, shuffle: false) with { StridedShards = true });
            return new TrainingSetup
            {
                Config = config, Group = group, ExperimentDir = experimentDir, Log = log, Normalizer = normalizer, Policy = policy,
                Train = trainLoader, Validation = valLoader, Resumed = resumed?.State, ResumedFrom = resumed?.Directory,
            };
        }
        catch
        {
            (policy ?? resumed?.Policy)?.Dispose();
            log.Dispose();
            throw;
        }
    }

    /// <summary>The checkpoint <paramref name="checkpoint"/> on <paramref name="device"/>, after checking it holds the model <paramref name="config"/> describes.</summary>
    private static Checkpoint.Loaded Resume(string checkpoint, VlaConfig config, Device device, TrainingLog log)
    {
        var resumed = ModelFactory.FromCheckpoint(checkpoint, device);
        try
        {
            Checkpoint.CheckCompatible(config, resumed.Config, checkpoint);
        }
        catch
        {
            resumed.Policy.Dispose();
            throw;
        }
        var s = resumed.State;
        log.Info($"resuming from {checkpoint} " + (s.BatchesInEpoch > 0 ? $"inside epoch {s.Epoch} after its batch {s.BatchesInEpoch}" : $"after epoch {s.Epoch}") + $", step {s.Step}");
        return resumed;
    }

    /// <summary>Says what data the run trains and validates on, and what of it was set aside.</summary>
    private static void DescribeData(VlaConfig config, IProcessGroup group, TrainingLog log, string experimentDir, EpisodeDataset train, EpisodeDataset? val)
    {
        if (group.WorldSize > 1) log.Info($"data parallel: {group.WorldSize} processes ({group.Description}), {config.Data.BatchSize / group.WorldSize} windows per process per step, {get_num_threads()} threads each");
        log.Info($"experiment {experimentDir}: {train.Episodes.Count} training episodes ({train.StepCount} windows)" +
                 (val is null ? ", no validation data" : $", {val.Episodes.Count} validation episodes ({val.StepCount} windows)"));
        foreach (var (name, data) in new[] { ("training", train), ("validation", val) })
            if (data is { BrokenFrames.Count: > 0 })
                log.Info($"data.skip_bad_frames: {data.BrokenFrames.Count} broken {name} frame(s) left out with their windows (first: {data.BrokenFrames[0]})");
        if (config.Data.MaxSeqLen > 1)
            log.Info($"data.max_seq_len is {config.Data.MaxSeqLen}: the policy conditions on the current frame, so only that frame of each window is decoded");
    }

    private static NormalizationStats PretrainedStats(VlaConfig config, TrainingLog log)
    {
        log.Info($"normalization stats from {config.Model.Pretrained} (model.pretrained_stats), {config.Data.NormalizationMode} as its normalization_mapping says");
        return Pi0Factory.PretrainedStats(config);
    }

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

    /// <summary>Says once, up front, when the policy's transform will cut prompts to <c>data.prompt_max_len</c> tokens.</summary>
    private static void WarnAboutLongPrompts(EpisodeDataset train, PolicyTransform transform, TrainingLog log)
    {
        int maxLength = transform.PromptMaxLength;
        var lengths = train.Episodes.Select(e => e.Prompt).Distinct().Select(p => (Prompt: p, Tokens: transform.TokenCount(p))).ToList();
        var cut = lengths.Where(p => p.Tokens > maxLength).ToList();
        if (cut.Count > 0)
            log.Info($"warning: {cut.Count} of {lengths.Count} prompts are longer than data.prompt_max_len = {maxLength} tokens " +
                     $"and will be cut (longest: {cut.Max(p => p.Tokens)} tokens, \"{cut.MaxBy(p => p.Tokens).Prompt}\")");
    }

    private static LoaderOptions LoaderOptions(VlaConfig config, IProcessGroup group, PolicyTransform transform, Device device, bool shuffle) => new()
    {
        BatchSize = config.Data.BatchSize / group.WorldSize,
        Rank = group.Rank,
        WorldSize = group.WorldSize,
        NumWorkers = config.Data.NumWorkers,
        Prefetch = config.Data.PrefetchBatches,
        Shuffle = shuffle,
        Seed = config.Training.Seed,
        MaxImagePixels = config.Data.MaxImagePixels,
        SkipBadFrames = config.Data.SkipBadFrames,
        Device = device,
        Transform = transform, // token ids made on the decoding threads
    };

    /// <summary>Frees the policy and the log.</summary>
    public void Dispose()
    {
        Policy.Dispose();
        Log.Dispose();
    }
}
