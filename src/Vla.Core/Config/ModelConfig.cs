namespace Vla.Config;

/// <summary>The <c>model:</c> section.</summary>
public sealed record ModelConfig
{
    /// <summary>Backbone choice and training switches.</summary>
    public VlmConfig VlmConfig { get; init; } = new();

    /// <summary>Context projector from backbone features to the head.</summary>
    public VisionResamplerConfig VisionResamplerConfig { get; init; } = new();

    /// <summary>The flow-matching action head.</summary>
    public ActionHeadConfig ActionHeadConfig { get; init; } = new();

    /// <summary>Low-rank adapters on the backbone (off by default).</summary>
    public LoraConfig Lora { get; init; } = new();
}
