namespace Vla.Config;

/// <summary>The <c>optimizer:</c> section.</summary>
public sealed record OptimizerConfig
{
    /// <summary>Only <c>AdamW</c> is implemented.</summary>
    public string Type { get; init; } = "AdamW";

    /// <summary>Peak learning rate.</summary>
    public double Lr { get; init; } = 1e-4;

    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Adam's (beta1, beta2).</summary>
    public List<double> Betas { get; init; } = [0.9, 0.999];
}
