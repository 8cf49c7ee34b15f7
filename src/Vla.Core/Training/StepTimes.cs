namespace Vla.Training;

/// <summary>Seconds spent in each phase of training steps (one step, or summed over a run).</summary>
/// <param name="DataWait">Waiting for the loader's next batch.</param>
/// <param name="Forward">Noise, forward pass and loss.</param>
/// <param name="Backward">Backward pass.</param>
/// <param name="AllReduce">Averaging gradients across ranks.</param>
/// <param name="Optimizer">Unscaling, clipping, the AdamW update and master-weight copies.</param>
/// <param name="Validation">Validation at epoch ends.</param>
public sealed record StepTimes(double Forward, double Backward, double AllReduce, double Optimizer, double DataWait = 0, double Validation = 0)
{
    /// <summary>Nothing yet.</summary>
    public static StepTimes Zero { get; } = new(0, 0, 0, 0);

    /// <summary>The phase-wise sum.</summary>
    public static StepTimes operator +(StepTimes a, StepTimes b) => new(a.Forward + b.Forward, a.Backward + b.Backward, a.AllReduce + b.AllReduce,
        a.Optimizer + b.Optimizer, a.DataWait + b.DataWait, a.Validation + b.Validation);

    /// <summary>The step's compute time (forward, backward, all-reduce, optimizer).</summary>
    public double Compute => Forward + Backward + AllReduce + Optimizer;

    /// <summary>One line for train.log.</summary>
    public override string ToString() =>
        $"data_wait {DataWait:F1}, forward {Forward:F1}, backward {Backward:F1}, all_reduce {AllReduce:F1}, optimizer {Optimizer:F1}, validation {Validation:F1}";
}
