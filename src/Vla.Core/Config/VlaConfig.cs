namespace Vla.Config;

/// <summary>
/// A whole run's configuration, as in the seed's YAML files: <c>data</c>, <c>model</c>,
/// <c>training</c>, <c>optimizer</c>, <c>lr_scheduler</c>. Load with <see cref="ConfigLoader"/>;
/// change with <c>with</c> expressions (command-line overrides); check with <see cref="ConfigValidator"/>.
/// </summary>
public sealed record VlaConfig
{
    /// <summary>Where episodes come from and how they are batched.</summary>
    public DataConfig Data { get; init; } = new();

    /// <summary>Backbone, context projector and action head.</summary>
    public ModelConfig Model { get; init; } = new();

    /// <summary>Epochs, logging, checkpoints and seed.</summary>
    public TrainingConfig Training { get; init; } = new();

    /// <summary>AdamW settings.</summary>
    public OptimizerConfig Optimizer { get; init; } = new();

    /// <summary>Learning-rate schedule.</summary>
    public LrSchedulerConfig LrScheduler { get; init; } = new();

    /// <summary>The folder of the YAML file this came from (relative paths may resolve against it); null when built in code.</summary>
    [YamlDotNet.Serialization.YamlIgnore]
    public string? BaseDirectory { get; init; }
}
