using YamlDotNet.Serialization;

namespace Vla.Config;

/// <summary>The <c>lr_scheduler:</c> section.</summary>
public sealed record LrSchedulerConfig
{
    /// <summary><c>CosineAnnealingLR</c> or <c>constant</c>.</summary>
    public string Type { get; init; } = "CosineAnnealingLR";

    /// <summary>Cosine period in epochs, as the seed's PyTorch scheduler.</summary>
    [YamlMember(Alias = "T_max", ApplyNamingConventions = false)]
    public int TMax { get; init; } = 50;

    /// <summary>Optimizer steps of linear warm-up before the cosine; 0 for none.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Learning rate at the end of the cosine.</summary>
    public double EtaMin { get; init; }
}
