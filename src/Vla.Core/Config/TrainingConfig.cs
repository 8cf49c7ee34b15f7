namespace Vla.Config;

/// <summary>The <c>training:</c> section.</summary>
public sealed record TrainingConfig
{
    /// <summary>Passes over the training windows.</summary>
    public int Epochs { get; init; } = 50;

    /// <summary>Steps between logged training metrics.</summary>
    public int LogInterval { get; init; } = 50;

    /// <summary>Root of <c>&lt;experiment_name&gt;/checkpoints</c>, <c>logs</c> and <c>tensorboard</c>.</summary>
    public string CheckpointDir { get; init; } = "./experiments";

    /// <summary>Folder name of this run under <c>checkpoint_dir</c>.</summary>
    public string ExperimentName { get; init; } = "vla_run";

    /// <summary>Largest global gradient norm; 0 disables clipping.</summary>
    public double GradClipNorm { get; init; } = 1.0;

    /// <summary>Seeds weights, noise, flow times and the per-epoch shuffle.</summary>
    public int Seed { get; init; } = 123;

    /// <summary>Epochs between <c>checkpoint_epoch_N</c> saves (the best model is saved whenever validation improves).</summary>
    public int SaveEveryNEpochs { get; init; } = 5;

    /// <summary>Stop after this many optimizer steps (0: run every epoch); for smoke tests and quick checks. The run validates and saves where it stops; resuming from that checkpoint starts at the next epoch.</summary>
    public int MaxSteps { get; init; }

    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c>.</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Recompute each SigLIP and Gemma layer's activations during backward instead of keeping them: less memory, about one more forward of the backbone per step.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>On SIGTERM or Ctrl-C (Slurm preemption), save the last finished step as <c>checkpoint_epoch_N</c> (with its place in the epoch) before stopping.</summary>
    public bool SaveOnPreempt { get; init; }

    /// <summary>For pi0 and pi0.5: the run's final save also writes a complete LeRobot policy folder (LoRA merged) to <c>&lt;experiment_name&gt;/lerobot</c>.</summary>
    public bool SaveLerobot { get; init; }

    /// <summary>Data parallel: gradients are all-reduced in buckets of about this many megabytes (PyTorch DDP's default, 25).</summary>
    public double DdpBucketMb { get; init; } = 25;
}
