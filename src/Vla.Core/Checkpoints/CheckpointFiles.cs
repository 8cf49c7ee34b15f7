namespace Vla.Checkpoints;

/// <summary>The files of a checkpoint folder.</summary>
public static class CheckpointFiles
{
    /// <summary>The learned weights, plain parameter names (loadable by Python's safetensors); with a base model reference only what is not in the base, LoRA adapters in their own file.</summary>
    public const string Model = "model.safetensors";
    /// <summary>Where the frozen base weights are when the checkpoint does not hold them (LoRA runs, see <see cref="BaseModelReference"/>).</summary>
    public const string BaseModel = "base_model.json";
    /// <summary>The base model written inside an exported folder (Hugging Face layout).</summary>
    public const string ExportedBase = "paligemma";
    /// <summary>AdamW state (TorchSharp format).</summary>
    public const string Optimizer = "optimizer.bin";
    /// <summary>Float32 master copies of parameters trained in bfloat16/float16, with the loss scale (mixed precision only).</summary>
    public const string MasterWeights = "optimizer_master_weights.safetensors";
    /// <summary>Epoch, step, scheduler, RNG, config snapshot, normalization stats, versions.</summary>
    public const string TrainerState = "trainer_state.json";
    /// <summary>The backbone's shape, in Hugging Face's config.json layout.</summary>
    public const string BackboneConfig = "backbone_config.json";
    /// <summary>The prompt tokenizer.</summary>
    public const string Tokenizer = "tokenizer.model";
    /// <summary>The run configuration, for people (the copy in trainer_state.json is what loads).</summary>
    public const string ConfigYaml = "config.yaml";
    /// <summary>The normalization statistics, for people and other tools.</summary>
    public const string Stats = "normalization_stats.json";
}
