namespace Vla.Evaluation;

/// <summary>How an evaluation runs.</summary>
public sealed record EvalOptions
{
    /// <summary>Windows per batch; null uses the checkpoint's data.batch_size.</summary>
    public int? BatchSize { get; init; }
    /// <summary>Euler steps; null uses the checkpoint's num_inference_steps.</summary>
    public int? NumInferenceSteps { get; init; }
    /// <summary>Seeds the sampled noise, so the same checkpoint and seed give the same metrics.</summary>
    public long Seed { get; init; }
    /// <summary>Write predictions.csv.</summary>
    public bool SavePredictions { get; init; }
    /// <summary>Episodes drawn as predicted vs true trajectories in the report.</summary>
    public int TrajectoryEpisodes { get; init; } = 3;
    /// <summary>Bins over [-1, 1] of the discretized accuracy; null uses the checkpoint's <c>model.action_head_config.num_action_bins</c> (1024 without one).</summary>
    public int? NumActionBins { get; init; }
    /// <summary>The episodes of each dataset to evaluate; null evaluates all.</summary>
    public Config.EpisodeSelection? Episodes { get; init; }
}
