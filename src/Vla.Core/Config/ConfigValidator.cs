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
        var p = new ProblemList();
        DataValues(p, config.Data);
        ModelValues(p, config.Model);
        TrainingValues(p, config);

        var d = config.Data;
        if (requirements.HasFlag(ConfigRequirements.TrainData))
            CheckData(p.List, "data.train_parquet_files", d.TrainParquetFiles, config.BaseDirectory, required: true);
        if (requirements.HasFlag(ConfigRequirements.ValData))
            CheckData(p.List, "data.val_parquet_files", d.ValParquetFiles, config.BaseDirectory, required: false);
        var model = config.Model;
        if (requirements.HasFlag(ConfigRequirements.Model) && model.Policy == "paligemma_flow" && PathResolver.ResolveExisting(model.VlmConfig.ModelNameOrPath, config.BaseDirectory) is null)
            p.Add($"model.vlm_config.model_name_or_path: folder '{model.VlmConfig.ModelNameOrPath}' does not exist.");
        string? pretrained = model.Policy is "pi0" or "pi05" ? PathResolver.ResolveExisting(model.Pretrained, config.BaseDirectory) : null;
        if (requirements.HasFlag(ConfigRequirements.Model) && model.Policy is "pi0" or "pi05" && (pretrained is null || !File.Exists(Path.Combine(pretrained, "config.json"))))
            p.Add($"model.pretrained: '{model.Pretrained}' is not a LeRobot policy folder (a folder with config.json), which model.policy {model.Policy} starts from.");
        return p.List;
    }

    /// <summary>The problems found so far, with the checks each key's value gets.</summary>
    private sealed class ProblemList
    {
        public List<string> List { get; } = [];
        public void Add(string problem) => List.Add(problem);
        public void Positive(string key, double value) { if (value <= 0) Add($"{key} must be positive (got {value})."); }
        public void NonNegative(string key, double value) { if (value < 0) Add($"{key} must not be negative (got {value})."); }
        public void OneOf(string key, string value, string[] allowed)
        {
            if (!allowed.Contains(value)) Add($"{key} must be one of {string.Join(", ", allowed)} (got '{value}').");
        }
    }

    private static void DataValues(ProblemList p, DataConfig d)
    {
        p.Positive("data.max_seq_len", d.MaxSeqLen);
        p.Positive("data.prompt_max_len", d.PromptMaxLen);
        p.Positive("data.batch_size", d.BatchSize);
        p.NonNegative("data.num_workers", d.NumWorkers);
        p.Positive("data.state_dim", d.StateDim);
        p.Positive("data.image_size", d.ImageSize);
        p.Positive("data.max_image_pixels", d.MaxImagePixels);
        p.Positive("data.prefetch_batches", d.PrefetchBatches);
        p.OneOf("data.normalization_mode", d.NormalizationMode, NormalizationModes);
        p.OneOf("data.format", d.Format, ["auto", "seed", "lerobot"]);
        p.Positive("data.video_cache_mb", d.VideoCacheMb);
        try
        {
            var train = EpisodeSelection.Parse(d.TrainEpisodes, "data.train_episodes");
            var val = EpisodeSelection.Parse(d.ValEpisodes, "data.val_episodes");
            if (d.ValParquetFiles.Count == 0 && train is not null && val is not null && train.Overlap(val) is int shared)
                p.Add($"data.train_episodes ({train}) and data.val_episodes ({val}) both hold episode {shared}: validation would measure episodes the model trained on.");
        }
        catch (BadInputException e) { p.Add(e.Message); }
    }

    private static void ModelValues(ProblemList p, ModelConfig model)
    {
        p.OneOf("model.policy", model.Policy, ["paligemma_flow", "pi0", "pi05"]);
        var vlm = model.VlmConfig;
        p.OneOf("model.vlm_config.dtype", NormalizeDtype(vlm.Dtype), Dtypes);
        p.Positive("model.vlm_config.num_image_tokens", vlm.NumImageTokens);
        p.OneOf("model.vision_resampler_config.type", model.VisionResamplerConfig.Type, ["mlp"]);
        p.Positive("model.vision_resampler_config.output_dim", model.VisionResamplerConfig.OutputDim);

        var head = model.ActionHeadConfig;
        p.Positive("model.action_head_config.horizon", head.Horizon);
        p.Positive("model.action_head_config.per_action_dim", head.PerActionDim);
        if (head.ActionDim != head.Horizon * head.PerActionDim)
            p.Add($"model.action_head_config.action_dim is {head.ActionDim} but horizon × per_action_dim = {head.Horizon} × {head.PerActionDim} = {head.Horizon * head.PerActionDim}.");
        if (head.NumActionBins < 2) p.Add($"model.action_head_config.num_action_bins must be at least 2 (got {head.NumActionBins}).");
        if (head.DropoutProb is < 0 or >= 1) p.Add($"model.action_head_config.dropout_prob must be in [0, 1) (got {head.DropoutProb}).");
        p.Positive("model.action_head_config.hidden_dim", head.HiddenDim);
        p.Positive("model.action_head_config.num_layers", head.NumLayers);
        p.Positive("model.action_head_config.num_heads", head.NumHeads);
        if (head.NumHeads > 0 && head.HiddenDim % head.NumHeads != 0)
            p.Add($"model.action_head_config.hidden_dim ({head.HiddenDim}) must be divisible by num_heads ({head.NumHeads}).");
        p.Positive("model.action_head_config.num_inference_steps", head.NumInferenceSteps);
        foreach (var width in head.MlpHiddenDims) p.Positive("model.action_head_config.mlp_hidden_dims[]", width);

        LoraValues(p, "model.lora", model.Lora);
        LoraValues(p, "model.expert_lora", model.ExpertLora);
        if (model.ExpertLora.Enabled && model.Policy == "paligemma_flow") p.Add("model.expert_lora is for pi0 and pi05 (model.policy), whose action expert it adapts.");
        if (model.PretrainedStats && model.Policy == "paligemma_flow") p.Add("model.pretrained_stats is for pi0 and pi05 (model.policy), whose pretrained folder holds statistics.");
    }

    private static void LoraValues(ProblemList p, string key, LoraConfig lora)
    {
        p.NonNegative($"{key}.rank", lora.Rank);
        if (lora.Enabled) p.Positive($"{key}.alpha", lora.Alpha);
        if (lora.Dropout is < 0 or >= 1) p.Add($"{key}.dropout must be in [0, 1) (got {lora.Dropout}).");
        if (lora.Enabled && lora.TargetModules.Count == 0) p.Add($"{key}.target_modules is empty: name at least one projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).");
    }

    private static void TrainingValues(ProblemList p, VlaConfig config)
    {
        var t = config.Training;
        p.Positive("training.epochs", t.Epochs);
        p.Positive("training.log_interval", t.LogInterval);
        p.Positive("training.save_every_n_epochs", t.SaveEveryNEpochs);
        p.NonNegative("training.grad_clip_norm", t.GradClipNorm);
        p.Positive("training.ddp_bucket_mb", t.DdpBucketMb);
        if (string.IsNullOrWhiteSpace(t.ExperimentName) || t.ExperimentName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            p.Add($"training.experiment_name must be a plain folder name (got '{t.ExperimentName}').");

        if (t.SaveLerobot && config.Model.Policy == "paligemma_flow") p.Add("training.save_lerobot is for pi0 and pi05 (model.policy): LeRobot has no paligemma_flow policy to load.");
        p.OneOf("optimizer.type", config.Optimizer.Type, ["AdamW"]);
        p.Positive("optimizer.lr", config.Optimizer.Lr);
        p.NonNegative("optimizer.weight_decay", config.Optimizer.WeightDecay);
        if (config.Optimizer.Betas.Count != 2 || config.Optimizer.Betas.Any(b => b is < 0 or >= 1))
            p.Add($"optimizer.betas must be two numbers in [0, 1) (got [{string.Join(", ", config.Optimizer.Betas)}]).");

        p.OneOf("lr_scheduler.type", config.LrScheduler.Type, Schedulers);
        p.Positive("lr_scheduler.T_max", config.LrScheduler.TMax);
        p.NonNegative("lr_scheduler.warmup_steps", config.LrScheduler.WarmupSteps);
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
