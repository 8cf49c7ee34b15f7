namespace Vla.Config;

/// <summary>The <c>model:</c> section.</summary>
public sealed record ModelConfig
{
    /// <summary>
    /// The policy family: <c>paligemma_flow</c> (PaliGemma from <c>vlm_config</c> with a new flow-matching head), or
    /// <c>pi0</c> / <c>pi05</c> fine-tuned from the LeRobot policy folder <see cref="Pretrained"/>.
    /// </summary>
    public string Policy { get; init; } = "paligemma_flow";

    /// <summary>For pi0 and pi0.5: the LeRobot policy folder (<c>config.json</c>, <c>model.safetensors</c>, processors) fine-tuning starts from.</summary>
    public string Pretrained { get; init; } = "";

    /// <summary>For pi0 and pi0.5: normalize with the statistics saved in <see cref="Pretrained"/> instead of the training data's.</summary>
    public bool PretrainedStats { get; init; }

    /// <summary>For pi0 and pi0.5: LoRA on the action expert's projections (rank 0, the default: the expert trains fully).</summary>
    public LoraConfig ExpertLora { get; init; } = new();

    /// <summary>Backbone choice and training switches.</summary>
    public VlmConfig VlmConfig { get; init; } = new();

    /// <summary>Context projector from backbone features to the head.</summary>
    public VisionResamplerConfig VisionResamplerConfig { get; init; } = new();

    /// <summary>The flow-matching action head.</summary>
    public ActionHeadConfig ActionHeadConfig { get; init; } = new();

    /// <summary>Low-rank adapters on the backbone (off by default).</summary>
    public LoraConfig Lora { get; init; } = new();
}
