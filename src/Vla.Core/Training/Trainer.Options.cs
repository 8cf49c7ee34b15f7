namespace Vla.Training;

public sealed partial class Trainer
{
    /// <summary>How a run is started and observed.</summary>
    public sealed record Options
    {
        /// <summary>A checkpoint folder to resume from.</summary>
        public string? ResumeCheckpoint { get; init; }
        /// <summary>Called after every step (the command line's progress bar).</summary>
        public Action<TrainProgress>? Progress { get; init; }
        /// <summary>Called with every train.log line.</summary>
        public Action<string>? Log { get; init; }
        /// <summary>
        /// How train.log words its lines: Vla.Core names API members (<c>Trainer.Options.ResumeCheckpoint</c>); a host puts its
        /// own names in their place (the command line its flags), in the file and in <see cref="Log"/> alike.
        /// </summary>
        public Func<string, string>? Wording { get; init; }
        /// <summary>Filled with every step's loss and every epoch's results as they happen (rank 0 only).</summary>
        public TrainingHistory? History { get; init; }
        /// <summary>The data-parallel group this process belongs to (single process when null).</summary>
        public Distributed.IProcessGroup? ProcessGroup { get; init; }
        /// <summary>
        /// Cancelled to stop at the next step boundary (SIGTERM, Ctrl-C): every rank stops after the same step, and with
        /// training.save_on_preempt that step is saved first. Unlike the cancellation token, nothing is abandoned mid-step.
        /// </summary>
        public CancellationToken Preempt { get; init; }
    }
}
