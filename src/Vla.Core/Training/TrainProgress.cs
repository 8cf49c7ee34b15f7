namespace Vla.Training;

/// <summary>A training progress report for the command line's progress bar.</summary>
/// <param name="Epoch">Current epoch (1-based).</param>
/// <param name="Epochs">Total epochs.</param>
/// <param name="StepInEpoch">Steps done in this epoch.</param>
/// <param name="StepsPerEpoch">Steps per epoch.</param>
/// <param name="Loss">Latest training loss.</param>
/// <param name="SamplesPerSecond">Recent throughput.</param>
public sealed record TrainProgress(int Epoch, int Epochs, int StepInEpoch, int StepsPerEpoch, double Loss, double SamplesPerSecond);
