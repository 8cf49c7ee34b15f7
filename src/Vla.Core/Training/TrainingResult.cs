namespace Vla.Training;

/// <summary>What a finished run reports.</summary>
/// <param name="ExperimentDir">The run's folder.</param>
/// <param name="Epochs">Epochs completed (including resumed ones).</param>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="FinalTrainLoss">Mean training loss of the last epoch.</param>
/// <param name="EpochTrainLosses">Mean training loss of each epoch run in this process, by epoch number.</param>
/// <param name="Validation">The last epoch's validation metrics, or null without validation data.</param>
/// <param name="BestCheckpoint">The model_best folder, or null.</param>
/// <param name="Timing">Seconds spent per phase (data wait, forward, backward, optimizer, validation).</param>
/// <param name="Preempted">Where the run stopped early on request (<see cref="Trainer.Options.Preempt"/>): the checkpoint saved then, or "" when none was (training.save_on_preempt off); null when the run was not preempted.</param>
public sealed record TrainingResult(
    string ExperimentDir, int Epochs, long Steps, double FinalTrainLoss,
    IReadOnlyDictionary<int, double> EpochTrainLosses, ValidationMetrics? Validation,
    string? BestCheckpoint, StepTimes Timing, string? Preempted = null);

/// <summary>Validation results of one epoch, in the model's normalized space.</summary>
/// <param name="Loss">Flow-matching loss with fixed noise and times.</param>
/// <param name="ActionMse">MSE of sampled chunks against the truth (masked).</param>
/// <param name="BaselineMse">MSE of the mean-chunk predictor (the training mean action) on the same windows.</param>
public sealed record ValidationMetrics(double Loss, double ActionMse, double BaselineMse);
