using System.Diagnostics;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Model;
using Vla.Runtime;

namespace Vla.Training;

/// <summary>
/// Trains a policy (<see cref="ITrainablePolicy"/>) in one process or as one rank of a data-parallel job: epoch after epoch, each step at
/// the scheduled learning rate, logged every <c>training.log_interval</c> steps; at each epoch's end validation and the
/// <see cref="CheckpointSchedule"/>. What the run starts from (data, statistics, the model, a resumed state) is
/// <see cref="TrainingSetup"/>'s; one step is <see cref="TrainStep"/>'s. Layout:
/// <c>&lt;checkpoint_dir&gt;/&lt;experiment_name&gt;/{checkpoints,logs,tensorboard}</c>.
/// </summary>
public sealed partial class Trainer : IDisposable
{
    private readonly TrainingSetup _run;
    private readonly Options _options;
    private readonly TrainingConfig _training;
    private readonly bool _leader;
    private readonly TrainStep _step;
    private readonly StepNoise _noise;
    private readonly LearningRateSchedule _schedule;
    private readonly CheckpointSchedule _checkpoints;
    private readonly Dictionary<int, double> _epochLosses = new();
    private long _steps;
    private double _lr;
    private StepTimes _times = StepTimes.Zero;
    private ValidationMetrics? _lastValidation;
    private bool _preempted;                 // a stop was requested (Options.Preempt) and every rank agreed after a step
    private int _skippedReported;            // frames masked under data.skip_bad_frames already logged
    private long _guardLapses = NativeCallGuard.Lapses;

    /// <summary>Trains as <paramref name="config"/> says; returns where the results went.</summary>
    public static async Task<TrainingResult> RunAsync(VlaConfig config, Options options, CancellationToken ct = default)
    {
        TrainingSetup run;
        using (var setup = CancellationTokenSource.CreateLinkedTokenSource(ct, options.Preempt)) // a stop during setup abandons it: nothing trained yet
            run = await TrainingSetup.OpenAsync(config, options, setup.Token);
        Trainer trainer;
        try
        {
            trainer = new Trainer(run, options);
        }
        catch
        {
            run.Dispose();
            throw;
        }
        using (trainer) return trainer.Train(ct);
    }

    private Trainer(TrainingSetup run, Options options)
    {
        _run = run;
        _options = options;
        _training = run.Config.Training;
        _leader = run.Group.Rank == 0;
        _step = new TrainStep(run.Policy, run.Config, run.Group);
        try
        {
            if (run.ResumedFrom is not null) _step.Load(run.ResumedFrom); // refuses an optimizer state this run cannot continue
        }
        catch
        {
            _step.Dispose(); // the optimizer's moments and the master weights
            throw;
        }
        run.Log.Info($"model: {run.Policy.Module.parameters().Sum(p => p.numel()) / 1e6:F2} M parameters ({_step.Trained.Sum(p => p.numel()) / 1e6:F2} M trainable) on {run.Policy.Device}, " +
                     $"backbone in {run.Policy.Spec.Dtype}" + (_step.Masters.Count > 0 ? $" with float32 master weights for its {_step.Masters.Count} trained tensors" : ""));
        _schedule = new LearningRateSchedule(run.Config.Optimizer, run.Config.LrScheduler, run.Train.BatchesPerEpoch);
        _noise = new StepNoise(_training.Seed); // a host generator: the same draws on every device, and resumable on any
        if (run.Resumed is not null) _noise.Restore(run.Resumed.RngState);
        _checkpoints = new CheckpointSchedule(_training, run.ExperimentDir, run.Group, run.Log, run.Resumed, Save);
        _steps = _checkpoints.Start.Step;
        _lr = _schedule.At(_steps);
    }

    private TrainingResult Train(CancellationToken ct)
    {
        string? preempted = null;
        var start = _checkpoints.Start;
        for (int epoch = start.Epoch; epoch <= _training.Epochs; epoch++)
        {
            if (PreemptRequested()) // asked during setup or the last epoch's validation and saves
            {
                preempted = _steps > start.Step ? _checkpoints.Preempted(epoch - 1, State(epoch - 1, 0, _run.Train.BatchesPerEpoch)) : "";
                break;
            }
            bool resumed = epoch == start.Epoch;
            var (lossSum, batches, stopped) = RunEpoch(epoch, resumed ? start.LossSum : 0, resumed ? start.BatchesDone : 0, ct);
            if (_preempted)
            {
                preempted = _checkpoints.Preempted(epoch, State(epoch, lossSum, batches, ended: false));
                break;
            }
            EndEpoch(epoch, lossSum, batches, stopped, ct);
            if (stopped) break;
        }
        if (preempted is null && _training.SaveLerobot && _leader && _run.Policy is Model.Pi0.Pi0Policy pi0)
        {
            string folder = Path.Combine(_run.ExperimentDir, "lerobot");
            LeRobotPolicyWriter.Save(pi0, _run.Normalizer.Stats, _run.Normalizer.Mode, Pi0Factory.CameraNames(_run.Config, pi0.Spec.Cameras), folder);
            _run.Log.Info($"saved {folder} (training.save_lerobot: a LeRobot policy folder of the final weights, LoRA merged)");
        }
        _run.Log.Info($"time per phase (s): {_times}");
        return new TrainingResult(_run.ExperimentDir, _epochLosses.Count > 0 ? _epochLosses.Keys.Max() : start.Epoch - 1, _steps,
            _epochLosses.Count > 0 ? _epochLosses.Values.Last() : double.NaN, _epochLosses, _lastValidation,
            Directory.Exists(_checkpoints.BestFolder) ? _checkpoints.BestFolder : null, _times, preempted);
    }

    /// <summary>
    /// One pass over this rank's batches after the first <paramref name="batches"/> (trained by the run resumed from, their
    /// losses summing to <paramref name="lossSum"/>); returns the epoch's loss sum, its batches so far and whether
    /// training.max_steps was reached.
    /// </summary>
    private (double LossSum, int Batches, bool Stopped) RunEpoch(int epoch, double lossSum, int batches, CancellationToken ct)
    {
        _run.Policy.Module.train();
        int windowsSinceLog = 0;
        bool stopped = false;
        var logWatch = Stopwatch.StartNew();
        var wait = Stopwatch.StartNew();
        foreach (var batch in _run.Train.Epoch(epoch, ct, skip: batches))
        {
            using var _ = batch;
            _times += StepTimes.Zero with { DataWait = wait.Elapsed.TotalSeconds };
            _lr = _schedule.At(_steps);
            var result = _step.Run(batch, _noise, _lr, _steps, epoch);
            _times += result.Times;
            _steps++;
            batches++;
            lossSum += result.Loss;
            stopped = _training.MaxSteps > 0 && _steps >= _training.MaxSteps;
            windowsSinceLog += batch.Size;
            double samplesPerSecond = windowsSinceLog / Math.Max(logWatch.Elapsed.TotalSeconds, 1e-9);
            if (_leader) _options.Progress?.Invoke(new TrainProgress(epoch, _training.Epochs, batches, _run.Train.BatchesPerEpoch, result.Loss, samplesPerSecond));
            if (_leader) _options.History?.Add(new TrainingHistory.StepLoss(_steps, epoch, result.Loss));
            if (_steps % _training.LogInterval == 0)
            {
                _run.Log.Write(new StepMetrics(_steps, epoch, result.Loss, _lr, result.GradNorm, samplesPerSecond, _step.LossScale != 1 ? _step.LossScale : null));
                _run.Log.Info($"epoch {epoch} step {_steps}: loss {result.Loss:F4}, lr {_lr:G3}, grad norm {result.GradNorm:F3}, {samplesPerSecond:F1} samples/s" +
                              (result.Skipped ? $" (float16 overflow: step skipped, loss scale now {_step.LossScale})" : ""));
                logWatch.Restart();
                windowsSinceLog = 0;
            }
            if (PreemptRequested()) _preempted = stopped = true;
            if (stopped) break;
            wait.Restart();
        }
        ReportSkippedFrames();
        ReportGuardLapses();
        return (lossSum, batches, stopped);
    }

    /// <summary>Validates, records the epoch and saves what the schedule says; an epoch cut short by training.max_steps is saved with its position.</summary>
    private void EndEpoch(int epoch, double lossSum, int batches, bool stopped, CancellationToken ct)
    {
        double trainLoss = lossSum / Math.Max(1, batches);
        _epochLosses[epoch] = trainLoss;
        var validationWatch = Stopwatch.StartNew();
        _lastValidation = _run.Validation is null ? null
            : Validation.Run(_run.Policy, _run.Validation, _run.Normalizer, _training.Seed, _run.Config.Model.ActionHeadConfig.NumInferenceSteps, _run.Group, ct);
        _times += StepTimes.Zero with { Validation = validationWatch.Elapsed.TotalSeconds };
        _run.Log.Write(new EpochMetrics(_steps, epoch, trainLoss, _lr, _lastValidation));
        if (_leader) _options.History?.Add(new TrainingHistory.EpochSummary(epoch, _steps, trainLoss, _lastValidation));
        _run.Log.Info($"epoch {epoch}/{_training.Epochs}: train loss {trainLoss:F4}" + (_lastValidation is null ? "" :
            $", val loss {_lastValidation.Loss:F4}, val action MSE {_lastValidation.ActionMse:F4} (mean-chunk baseline {_lastValidation.BaselineMse:F4})"));
        _checkpoints.EndOfEpoch(epoch, _lastValidation?.Loss ?? trainLoss, _lastValidation is not null, State(epoch, lossSum, batches), stopped, _run.Train.BatchesPerEpoch);
    }

    /// <summary>Whether any rank was asked to stop (a collective: every rank asks after every step, so all stop after the same one).</summary>
    private bool PreemptRequested()
    {
        double asked = _options.Preempt.IsCancellationRequested ? 1 : 0;
        return (_run.Group.WorldSize > 1 ? _run.Group.AllReduceSum([asked])[0] : asked) > 0;
    }

    /// <summary>The trainer state after <paramref name="batches"/> batches of <paramref name="epoch"/>, whose end has run when <paramref name="ended"/>.</summary>
    private TrainerState State(int epoch, double lossSum, int batches, bool ended = true)
    {
        int partial = ResumePosition.PartialBatches(batches, _run.Train.BatchesPerEpoch, ended);
        return new TrainerState
        {
            Epoch = epoch, BatchesInEpoch = partial, EpochLossSum = partial > 0 ? lossSum : 0, Step = _steps, LearningRate = _lr, BestValLoss = _checkpoints.Best,
            RngState = _noise.State, ConfigYaml = ConfigWriter.ToYaml(_run.Config), NormalizationStats = _run.Normalizer.Stats,
        };
    }

    private void Save(string dir, TrainerState state)
    {
        if (_leader) Checkpoint.Save(dir, _run.Policy, _step.Save, state);
    }

    /// <summary>Logs the frames every rank has masked out under data.skip_bad_frames so far (a collective: every rank calls it).</summary>
    private void ReportSkippedFrames()
    {
        if (!_run.Config.Data.SkipBadFrames) return;
        int skipped = (int)_run.Group.AllReduceSum([_run.Train.SkippedFrames])[0];
        if (skipped == _skippedReported) return;
        _run.Log.Info($"data.skip_bad_frames: {skipped - _skippedReported} frame(s) could not be decoded and their windows were masked out of the loss ({skipped} in all" +
                      (_run.Train.FirstSkippedFrame is { } first ? $"; first on this rank: {first})" : ")"));
        _skippedReported = skipped;
    }

    private void ReportGuardLapses()
    {
        if (NativeCallGuard.Lapses > _guardLapses)
            _run.Log.Info($"warning: in {NativeCallGuard.Lapses - _guardLapses} training step(s) this process allocated more than {NativeCallGuard.BudgetBytes >> 20} MB, so a .NET collection " +
                          "could run while TorchSharp held unrooted scalars; lower data.num_workers or data.prefetch_batches if the run fails with a native error");
        _guardLapses = NativeCallGuard.Lapses;
    }

    /// <summary>Frees the model, the optimizer, the generator and the log.</summary>
    public void Dispose()
    {
        _step.Dispose();
        _noise.Dispose();
        _run.Dispose();
    }
}
