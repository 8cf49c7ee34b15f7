namespace Vla.Config;

/// <summary>The <c>model.vlm_config:</c> section: which backbone and how it trains.</summary>
public sealed record VlmConfig
{
    /// <summary>Hugging Face model folder (config.json, safetensors, tokenizer.model).</summary>
    public string ModelNameOrPath { get; init; } = "./weight/paligemma-3b-pt-224";

    /// <summary>Feed the wrist camera (<c>image_2</c>) as a second image.</summary>
    public bool UseAuxCamera { get; init; }

    /// <summary>Keep the SigLIP tower's weights fixed.</summary>
    public bool FreezeVisionTower { get; init; }

    /// <summary>Keep the Gemma decoder's weights fixed.</summary>
    public bool FreezeLanguageModel { get; init; }

    /// <summary><c>float32</c>, <c>bfloat16</c> or <c>float16</c> (the seed's <c>torch.bfloat16</c> spelling is accepted): the backbone's storage and compute dtype; the head stays float32.</summary>
    public string Dtype { get; init; } = "float32";

    /// <summary>Image tokens per camera: (image_size / patch_size)²; 256 for PaliGemma-224.</summary>
    public int NumImageTokens { get; init; } = 256;
}
