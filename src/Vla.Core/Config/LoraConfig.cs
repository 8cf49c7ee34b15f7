namespace Vla.Config;

/// <summary>
/// The <c>model.lora:</c> section: low-rank adapters (LoRA) on the backbone's projections. With a rank above
/// zero every base weight is frozen in <c>model.vlm_config.dtype</c> and only the float32 adapters, the
/// projectors and the action head train.
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The adapters' rank r; 0 turns LoRA off.</summary>
    public int Rank { get; init; }

    /// <summary>The scaling numerator: an adapter adds <c>(alpha / r) · B A x</c>.</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>Dropout on the adapter's input while training.</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// The projections that get adapters, by module name. A plain name (<c>q_proj</c>) means the Gemma decoder's
    /// layers; <c>vision_tower.</c> before it (<c>vision_tower.q_proj</c>, <c>vision_tower.fc1</c>) means SigLIP's.
    /// </summary>
    public List<string> TargetModules { get; init; } = [.. DefaultTargets];

    /// <summary>The Gemma decoder's attention and MLP projections, PEFT's usual choice for Gemma.</summary>
    public static readonly IReadOnlyList<string> DefaultTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>True when adapters are on.</summary>
    [YamlDotNet.Serialization.YamlIgnore]
    public bool Enabled => Rank > 0;
}
