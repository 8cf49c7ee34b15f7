using Vla.Checkpoints;
using Vla.Config;
using Vla.Distributed;

namespace Vla.Training;

/// <summary>
/// When a training run saves, and where a resumed run starts: <c>model_best</c> whenever an epoch's score (validation loss,
/// or training loss without validation data) improves; <c>checkpoint_epoch_N</c> every <c>training.save_every_n_epochs</c>
/// epochs, after the last epoch and when <c>training.max_steps</c> ends the run; and, when a stop is requested and
/// <c>training.save_on_preempt</c> is set, the last finished step with its place in the epoch. Every rank calls it (the
/// barriers keep ranks from running ahead of a save); only rank 0's <paramref name="save"/> writes.
/// </summary>
/// <param name="training">The <c>training:</c> section.</param>
/// <param name="experimentDir">The run's folder; checkpoints go to its <c>checkpoints/</c>.</param>
/// <param name="group">The ranks that save together.</param>
/// <param name="log">Where each save is said.</param>
/// <param name="resumed">The state of the checkpoint the run resumes from, or null for a new run.</param>
/// <param name="save">Writes a checkpoint folder with a trainer state (rank 0; a no-op elsewhere).</param>
public sealed class CheckpointSchedule(TrainingConfig training, string experimentDir, IProcessGroup group, TrainingLog log, TrainerState? resumed,
    Action<string, TrainerState> save)
{
    private readonly string _checkpoints = Path.Combine(experimentDir, "checkpoints");

    /// <summary>Where training starts: after the resumed checkpoint's last batch, or at epoch 1.</summary>
    public ResumePosition Start { get; } = ResumePosition.After(resumed);

    /// <summary>The best score so far (null before the first epoch ends).</summary>
    public double? Best { get; private set; } = resumed?.BestValLoss;

    /// <summary>The <c>model_best</c> folder.</summary>
    public string BestFolder => Path.Combine(_checkpoints, "model_best");

    /// <summary>
    /// Saves what is due after <paramref name="epoch"/> scored <paramref name="score"/> (<paramref name="validated"/>: a validation
    /// loss): <c>model_best</c> when it improved, <c>checkpoint_epoch_N</c> when the schedule says or the run <paramref name="stopped"/>.
    /// </summary>
    public void EndOfEpoch(int epoch, double score, bool validated, TrainerState state, bool stopped, int batchesPerEpoch)
    {
        group.Barrier();
        if (Best is null || score < Best)
        {
            Best = score;
            save(BestFolder, state with { BestValLoss = Best });
            log.Info($"saved {BestFolder} ({(validated ? "validation" : "train")} loss {score:F4})");
        }
        if (epoch % training.SaveEveryNEpochs == 0 || epoch == training.Epochs || stopped)
        {
            string dir = EpochFolder(epoch);
            save(dir, state with { BestValLoss = Best });
            log.Info($"saved {dir}" + (state.BatchesInEpoch > 0 ? $" (stopped inside epoch {epoch} after batch {state.BatchesInEpoch} of {batchesPerEpoch}; resuming from it finishes the epoch)" : ""));
        }
        group.Barrier(); // no rank runs ahead of a save in progress
    }

    /// <summary>
    /// Saves the last finished step of a run stopped on request as <c>checkpoint_epoch_N</c> when <c>training.save_on_preempt</c>
    /// asks; returns the folder, or "" when nothing was saved.
    /// </summary>
    public string Preempted(int epoch, TrainerState state)
    {
        if (!training.SaveOnPreempt)
        {
            log.Info($"stopped on request after step {state.Step}; nothing saved (training.save_on_preempt is off)");
            return "";
        }
        string dir = EpochFolder(epoch);
        group.Barrier();
        save(dir, state);
        group.Barrier();
        log.Info($"stopped on request after step {state.Step}: saved {dir}; resume with Trainer.Options.ResumeCheckpoint {dir}");
        return dir;
    }

    private string EpochFolder(int epoch) => Path.Combine(_checkpoints, $"checkpoint_epoch_{epoch}");
}

/// <summary>Where a run starts.</summary>
/// <param name="Epoch">The first epoch to train.</param>
/// <param name="BatchesDone">Its batches already trained by the run resumed from (0 for a whole epoch).</param>
/// <param name="LossSum">The sum of those batches' losses, so the epoch's mean continues where it stopped.</param>
/// <param name="Step">Optimizer steps already taken.</param>
public readonly record struct ResumePosition(int Epoch, int BatchesDone, double LossSum, long Step)
{
    /// <summary>The position after a checkpoint's <paramref name="state"/> (epoch 1, step 0 for none).</summary>
    public static ResumePosition After(TrainerState? state) => state is null ? new(1, 0, 0, 0)
        : new(state.BatchesInEpoch > 0 ? state.Epoch : state.Epoch + 1, state.BatchesInEpoch, state.EpochLossSum, state.Step);

    /// <summary>
    /// The batches a checkpoint records as done in <paramref name="batches"/> of an epoch of <paramref name="batchesPerEpoch"/>:
    /// none for a whole epoch whose end has run (<paramref name="ended"/>), else those batches, so resuming finishes the epoch.
    /// </summary>
    public static int PartialBatches(int batches, int batchesPerEpoch, bool ended) => batches < batchesPerEpoch || !ended ? batches : 0;
}
