namespace Vla.Evaluation;

/// <summary>The outcome of <see cref="Evaluator.RunAsync"/>.</summary>
public sealed record EvalResult
{
    /// <summary>The checkpoint evaluated.</summary>
    public required string Checkpoint { get; init; }
    /// <summary>Euler steps used.</summary>
    public required int NumInferenceSteps { get; init; }
    /// <summary>Seed of the sampled noise.</summary>
    public required long Seed { get; init; }
    /// <summary>Discretization bins of the accuracy figure.</summary>
    public required int NumActionBins { get; init; }
    /// <summary>All datasets together.</summary>
    public required EvalMetrics Combined { get; init; }
    /// <summary>Each dataset, by the path given.</summary>
    public required IReadOnlyDictionary<string, EvalMetrics> Datasets { get; init; }
    /// <summary>A few episodes for the report's trajectory plots.</summary>
    public required IReadOnlyList<Trajectory> Trajectories { get; init; }
    /// <summary>Human lines for inference_log.txt: what ran, timings, warnings.</summary>
    public required IReadOnlyList<string> Log { get; init; }
    /// <summary>The action dimensions' names (the data's, else the checkpoint's), or null when unnamed.</summary>
    public IReadOnlyList<string>? ActionNames { get; init; }
}
