using System.Text.Json.Nodes;

namespace Vla.Model;

/// <summary>The Gemma decoder's shape. Defaults are Hugging Face's <c>GemmaConfig</c> defaults (Gemma-7B), which apply to keys a <c>config.json</c> omits.</summary>
public sealed record GemmaConfig
{
    /// <summary>Vocabulary size (HF default 256000; PaliGemma-3B 257216 with image, location and segmentation tokens).</summary>
    public int VocabSize { get; init; } = 256000;
    /// <summary>Token width (HF default 3072; PaliGemma-3B 2048).</summary>
    public int HiddenSize { get; init; } = 3072;
    /// <summary>GeGLU MLP width (HF default 24576; PaliGemma-3B 16384).</summary>
    public int IntermediateSize { get; init; } = 24576;
    /// <summary>Decoder layers (HF default 28; PaliGemma-3B 18).</summary>
    public int NumHiddenLayers { get; init; } = 28;
    /// <summary>Query heads (HF default 16; PaliGemma-3B 8).</summary>
    public int NumAttentionHeads { get; init; } = 16;
    /// <summary>Key/value heads shared by groups of query heads (HF default 16; PaliGemma-3B 1, multi-query).</summary>
    public int NumKeyValueHeads { get; init; } = 16;
    /// <summary>Width of one head; not hidden/heads in general (HF default 256).</summary>
    public int HeadDim { get; init; } = 256;
    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>Rotary embedding base.</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>Reads the keys present in a <c>text_config</c> object; the rest keep their defaults.</summary>
    public static GemmaConfig FromJson(JsonObject? json)
    {
        var c = new GemmaConfig();
        if (json is null) return c;
        return c with
        {
            VocabSize = ConfigJsonKeys.Int(json, "vocab_size", c.VocabSize),
            HiddenSize = ConfigJsonKeys.Int(json, "hidden_size", c.HiddenSize),
            IntermediateSize = ConfigJsonKeys.Int(json, "intermediate_size", c.IntermediateSize),
            NumHiddenLayers = ConfigJsonKeys.Int(json, "num_hidden_layers", c.NumHiddenLayers),
            NumAttentionHeads = ConfigJsonKeys.Int(json, "num_attention_heads", c.NumAttentionHeads),
            NumKeyValueHeads = ConfigJsonKeys.Int(json, "num_key_value_heads", c.NumKeyValueHeads),
            HeadDim = ConfigJsonKeys.Int(json, "head_dim", c.HeadDim),
            RmsNormEps = ConfigJsonKeys.Double(json, "rms_norm_eps", c.RmsNormEps),
            RopeTheta = ConfigJsonKeys.Double(json, "rope_theta", c.RopeTheta),
        };
    }
}
