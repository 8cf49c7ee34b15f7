using Vla.Runtime;

namespace Vla.Config;

/// <summary>Which inputs a command needs to exist before it starts.</summary>
[Flags]
public enum ConfigRequirements
{
    /// <summary>Only values are checked.</summary>
    None = 0,
    /// <summary><c>data.train_parquet_files</c> must match files.</summary>
    TrainData = 1,
    /// <summary><c>data.val_parquet_files</c>, when given, must match files.</summary>
    ValData = 2,
    /// <summary><c>model.vlm_config.model_name_or_path</c> must be a folder.</summary>
    Model = 4,
}

/// <summary>Checks a <see cref="VlaConfig"/> and reports every problem at once, one sentence each.</summary>
public static class ConfigValidator
{
    private static readonly string[] NormalizationModes = ["min_max", "z_score", "quantile"];
    private static readonly string[] Dtypes = ["float32", "bfloat16", "float16"];
    private static readonly string[] Schedulers = ["CosineAnnealingLR", "constant"];

    /// <summary>Every problem found, empty when the config is usable.</summary>
    public static List<string> Problems(VlaConfig config, ConfigRequirements requirements = ConfigRequirements.None)
    {
        var p = new List<string>();
        var d = config.Data;
        var head = config.Model.ActionHeadConfig;
        var vlm = config.Model.VlmConfig;

        void Positive(string key, double value) { if (value <= 0) p.Add($"{key} must be positive (got {value})."); }
        void NonNegative(string key, double value) { if (value < 0) p.Add($"{key} must not be negative (got {value})."); }
        void OneOf(string key, string value, string[] allowed)
        {
            if (!allowed.Contains(value)) p.Add($"{key} must be one of {string.Join(", ", allowed)} (got '{value}').");
        }

        Positive("data.max_seq_len", d.MaxSeqLen);
        Positive("data.prompt_max_len", d.PromptMaxLen);
        Positive("data.batch_size", d.BatchSize);
        NonNegative("data.num_workers", d.NumWorkers);
        Positive("data.state_dim", d.StateDim);
        Positive("data.image_size", d.ImageSize);
        Positive("data.max_image_pixels", d.MaxImagePixels);
        Positive("data.prefetch_batches", d.PrefetchBatches);
        OneOf("data.normalization_mode", d.NormalizationMode, NormalizationModes);
        OneOf("data.format", d.Format, ["auto", "seed", "lerobot"]);
        Positive("data.video_cache_mb", d.VideoCacheMb);
        try
        {
            var train = Config.EpisodeSelection.Parse(d.TrainEpisodes, "data.train_episodes");
            var val = Config.EpisodeSelection.Parse(d.ValEpisodes, "data.val_episodes");
            if (d.ValParquetFiles.Count == 0 && train is not null && val is not null && train.Overlap(val) is int shared)
                p.Add($"data.train_episodes ({train}) and data.val_episodes ({val}) both hold episode {shared}: validation would measure episodes the model trained on.");
        }
        catch (BadInputException e) { p.Add(e.Message); }

        OneOf("model.vlm_config.dtype", NormalizeDtype(vlm.Dtype), Dtypes);
        Positive("model.vlm_config.num_image_tokens", vlm.NumImageTokens);
        OneOf("model.vision_resampler_config.type", config.Model.VisionResamplerConfig.Type, ["mlp"]);
        Positive("model.vision_resampler_config.output_dim", config.Model.VisionResamplerConfig.OutputDim);

        Positive("model.action_head_config.horizon", head.Horizon);
        Positive("model.action_head_config.per_action_dim", head.PerActionDim);
        if (head.ActionDim != head.Horizon * head.PerActionDim)
            p.Add($"model.action_head_config.action_dim is {head.ActionDim} but horizon × per_action_dim = {head.Horizon} × {head.PerActionDim} = {head.Horizon * head.PerActionDim}.");
        if (head.NumActionBins < 2) p.Add($"model.action_head_config.num_action_bins must be at least 2 (got {head.NumActionBins}).");
        if (head.DropoutProb is < 0 or >= 1) p.Add($"model.action_head_config.dropout_prob must be in [0, 1) (got {head.DropoutProb}).");
        Positive("model.action_head_config.hidden_dim", head.HiddenDim);
        Positive("model.action_head_config.num_layers", head.NumLayers);
        Positive("model.action_head_config.num_heads", head.NumHeads);
        if (head.NumHeads > 0 && head.HiddenDim % head.NumHeads != 0)
            p.Add($"model.action_head_config.hidden_dim ({head.HiddenDim}) must be divisible by num_heads ({head.NumHeads}).");
        Positive("model.action_head_config.num_inference_steps", head.NumInferenceSteps);
        foreach (var width in head.MlpHiddenDims) Positive("model.action_head_config.mlp_hidden_dims[]", width);

        var lora = config.Model.Lora;
        NonNegative("model.lora.rank", lora.Rank);
        if (lora.Enabled) Positive("model.lora.alpha", lora.Alpha);
        if (lora.Dropout is < 0 or >= 1) p.Add($"model.lora.dropout must be in [0, 1) (got {lora.Dropout}).");
        if (lora.Enabled && lora.TargetModules.Count == 0) p.Add("model.lora.target_modules is empty: name at least one projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).");

        var t = config.Training;
        Positive("training.epochs", t.Epochs);
        Positive("training.log_interval", t.LogInterval);
        Positive("training.save_every_n_epochs", t.SaveEveryNEpochs);
        NonNegative("training.grad_clip_norm", t.GradClipNorm);
        Positive("training.ddp_bucket_mb", t.DdpBucketMb);
        if (string.IsNullOrWhiteSpace(t.ExperimentName) || t.ExperimentName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            p.Add($"training.experiment_name must be a plain folder name (got '{t.ExperimentName}').");

        OneOf("optimizer.type", config.Optimizer.Type, ["AdamW"]);
        Positive("optimizer.lr", config.Optimizer.Lr);
        NonNegative("optimizer.weight_decay", config.Optimizer.WeightDecay);
        if (config.Optimizer.Betas.Count != 2 || config.Optimizer.Betas.Any(b => b is < 0 or >= 1))
            p.Add($"optimizer.betas must be two numbers in [0, 1) (got [{string.Join(", ", config.Optimizer.Betas)}]).");

        OneOf("lr_scheduler.type", config.LrScheduler.Type, Schedulers);
        Positive("lr_scheduler.T_max", config.LrScheduler.TMax);
        NonNegative("lr_scheduler.warmup_steps", config.LrScheduler.WarmupSteps);

        if (requirements.HasFlag(ConfigRequirements.TrainData))
            CheckData(p, "data.train_parquet_files", d.TrainParquetFiles, config.BaseDirectory, required: true);
        if (requirements.HasFlag(ConfigRequirements.ValData))
            CheckData(p, "data.val_parquet_files", d.ValParquetFiles, config.BaseDirectory, required: false);
        if (requirements.HasFlag(ConfigRequirements.Model) && PathResolver.ResolveExisting(vlm.ModelNameOrPath, config.BaseDirectory) is null)
            p.Add($"model.vlm_config.model_name_or_path: folder '{vlm.ModelNameOrPath}' does not exist.");
        return p;
    }

    /// <summary>Throws one <see cref="BadInputException"/> listing every problem, if there are any.</summary>
    public static void Validate(VlaConfig config, ConfigRequirements requirements = ConfigRequirements.None)
    {
        var problems = Problems(config, requirements);
        if (problems.Count > 0) throw new BadInputException(string.Join(Environment.NewLine, problems));
    }

    /// <summary>Maps the seed's <c>torch.bfloat16</c> spelling to <c>bfloat16</c>.</summary>
    public static string NormalizeDtype(string dtype) => dtype.StartsWith("torch.", StringComparison.Ordinal) ? dtype[6..] : dtype;

    private static void CheckData(List<string> problems, string key, List<string> patterns, string? baseDir, bool required)
    {
        if (patterns.Count == 0)
        {
            if (required) problems.Add($"{key} is empty: give a Parquet file, folder or glob.");
            return;
        }
        foreach (var pattern in patterns)
            if (PathResolver.ExpandParquet(pattern, baseDir).Count == 0)
                problems.Add($"{key}: '{pattern}' matches no Parquet file.");
    }
}
