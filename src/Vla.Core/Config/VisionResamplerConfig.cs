namespace Vla.Config;

/// <summary>The <c>model.vision_resampler_config:</c> section: how backbone features become head context.</summary>
public sealed record VisionResamplerConfig
{
    /// <summary>Only <c>mlp</c> is implemented.</summary>
    public string Type { get; init; } = "mlp";

    /// <summary>Context width handed to the action head.</summary>
    public int OutputDim { get; init; } = 2048;
}
