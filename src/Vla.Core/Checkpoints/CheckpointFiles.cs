using Vla.Model.PaliGemmaFlow;
using Vla.Model.Weights;

namespace Vla.Checkpoints;

/// <summary>The files of a checkpoint folder: the trainer's, and those the policy writes of itself (<see cref="VlaModelFolder"/>).</summary>
public static class CheckpointFiles
{
    /// <summary>The policy's learned weights (see <see cref="VlaModelFolder.Weights"/>).</summary>
    public const string Model = VlaModelFolder.Weights;
    /// <summary>Where the frozen base weights are when the checkpoint does not hold them (LoRA runs, see <see cref="BaseModelReference"/>).</summary>
    public const string BaseModel = BaseModelReference.FileName;
    /// <summary>The base model written inside an exported folder (Hugging Face layout).</summary>
    public const string ExportedBase = VlaModelFolder.ExportedBase;
    /// <summary>The backbone's shape, in Hugging Face's config.json layout.</summary>
    public const string BackboneConfig = VlaModelFolder.BackboneConfig;
    /// <summary>The prompt tokenizer.</summary>
    public const string Tokenizer = VlaModelFolder.Tokenizer;
    /// <summary>AdamW state (TorchSharp format).</summary>
    public const string Optimizer = "optimizer.bin";
    /// <summary>Float32 master copies of parameters trained in bfloat16/float16, with the loss scale (mixed precision only).</summary>
    public const string MasterWeights = "optimizer_master_weights.safetensors";
    /// <summary>Epoch, step, scheduler, RNG, config snapshot, normalization stats, versions.</summary>
    public const string TrainerState = "trainer_state.json";
    /// <summary>The run configuration, for people (the copy in trainer_state.json is what loads).</summary>
    public const string ConfigYaml = "config.yaml";
    /// <summary>The normalization statistics, for people and other tools.</summary>
    public const string Stats = "normalization_stats.json";
}
