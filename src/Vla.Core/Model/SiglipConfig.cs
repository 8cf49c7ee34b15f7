using System.Text.Json.Nodes;

namespace Vla.Model;

/// <summary>The SigLIP vision tower's shape. Defaults are Hugging Face's <c>SiglipVisionConfig</c> defaults, which apply to keys a <c>config.json</c> omits.</summary>
public sealed record SiglipConfig
{
    /// <summary>Token width (HF default 768; PaliGemma-3B 1152).</summary>
    public int HiddenSize { get; init; } = 768;
    /// <summary>MLP width (HF default 3072; PaliGemma-3B 4304).</summary>
    public int IntermediateSize { get; init; } = 3072;
    /// <summary>Encoder layers (HF default 12; PaliGemma-3B 27).</summary>
    public int NumHiddenLayers { get; init; } = 12;
    /// <summary>Attention heads (HF default 12; PaliGemma-3B 16).</summary>
    public int NumAttentionHeads { get; init; } = 12;
    /// <summary>Input channels (RGB).</summary>
    public int NumChannels { get; init; } = 3;
    /// <summary>Square input side in pixels.</summary>
    public int ImageSize { get; init; } = 224;
    /// <summary>Patch side; the patch embedding is a convolution with this kernel and stride (HF default 16; PaliGemma 14).</summary>
    public int PatchSize { get; init; } = 16;
    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; init; } = 1e-6;

    /// <summary>Patches per image: (image_size / patch_size)².</summary>
    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Reads the keys present in a <c>vision_config</c> object; the rest keep their defaults.</summary>
    public static SiglipConfig FromJson(JsonObject? json)
    {
        var c = new SiglipConfig();
        if (json is null) return c;
        return c with
        {
            HiddenSize = ConfigJsonKeys.Int(json, "hidden_size", c.HiddenSize),
            IntermediateSize = ConfigJsonKeys.Int(json, "intermediate_size", c.IntermediateSize),
            NumHiddenLayers = ConfigJsonKeys.Int(json, "num_hidden_layers", c.NumHiddenLayers),
            NumAttentionHeads = ConfigJsonKeys.Int(json, "num_attention_heads", c.NumAttentionHeads),
            NumChannels = ConfigJsonKeys.Int(json, "num_channels", c.NumChannels),
            ImageSize = ConfigJsonKeys.Int(json, "image_size", c.ImageSize),
            PatchSize = ConfigJsonKeys.Int(json, "patch_size", c.PatchSize),
            LayerNormEps = ConfigJsonKeys.Double(json, "layer_norm_eps", c.LayerNormEps),
        };
    }
}
