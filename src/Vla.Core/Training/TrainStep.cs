using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>
/// One optimizer step of (data-parallel) flow-matching training, the only one in the repository: the step's draws, the
/// masked loss, backward, gradient averaging across ranks, clipping and AdamW at the learning rate given. Half-precision
/// parameters train through float32 <see cref="MasterWeights"/>; float16 scales the loss (<see cref="LossScaler"/>) and
/// skips a step whose gradients overflow.
/// </summary>
public sealed class TrainStep : IDisposable
{
    private readonly ITrainablePolicy _policy;
    private readonly IProcessGroup _group;
    private readonly double _clip;
    private readonly double _bucketMb;
    private readonly List<(string Name, Parameter Param)> _trained;
    private readonly MasterWeights _masters;
    private readonly LossScaler _scaler;

    /// <summary>The optimizer (over float32 parameters and master copies).</summary>
    public OptimizerHelper Optimizer { get; }

    /// <summary>The model's trained parameters, in model order.</summary>
    public IReadOnlyList<Parameter> Trained => _trained.Select(t => t.Param).ToList();

    /// <summary>Float32 master copies of the trained half-precision parameters, by parameter name.</summary>
    public IReadOnlyDictionary<string, Parameter> Masters => _masters.ByName;

    /// <summary>The current loss scale (1 unless the backbone trains in float16).</summary>
    public double LossScale => _scaler.Scale;

    /// <summary>Sets up the step for <paramref name="policy"/> as <paramref name="config"/>'s optimizer and training sections say.</summary>
    public TrainStep(ITrainablePolicy policy, VlaConfig config, IProcessGroup? group = null)
    {
        _policy = policy;
        _group = group ?? new SingleProcessGroup();
        _clip = config.Training.GradClipNorm;
        _bucketMb = config.Training.DdpBucketMb;
        _trained = policy.Module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        _masters = new MasterWeights(_trained);
        // Gradients that flow back through float16 weights underflow without scaling, even when only float32
        // tensors (LoRA adapters, the head) train.
        _scaler = new LossScaler(_trained.Count > 0 && policy.Module.parameters().Any(p => p.dtype == ScalarType.Float16));
        var o = config.Optimizer;
        Optimizer = optim.AdamW(ParameterGroups(_masters.Optimized, o.WeightDecay), o.Lr, o.Betas[0], o.Betas[1], weight_decay: o.WeightDecay);
    }

    /// <summary>
    /// AdamW's two groups, as nanoGPT's <c>configure_optimizers</c> makes them: matrices (projections, convolutions,
    /// embeddings, LoRA adapters) decay by <paramref name="weightDecay"/>; vectors (biases, norm scales, RMSNorm offsets)
    /// do not, since pulling a norm's scale or a bias towards zero regularizes nothing and changes what the layer computes.
    /// </summary>
    public static AdamW.ParamGroup[] ParameterGroups(IEnumerable<Parameter> parameters, double weightDecay)
    {
        var all = parameters.ToList();
        return
        [
            new AdamW.ParamGroup(all.Where(p => p.dim() >= 2), new AdamW.Options { weight_decay = weightDecay }),
            new AdamW.ParamGroup(all.Where(p => p.dim() < 2), new AdamW.Options { weight_decay = 0 }),
        ];
    }

    /// <summary>
    /// Trains on this rank's part of one global batch at <paramref name="learningRate"/>, with the draws <paramref name="noise"/>
    /// makes for the whole global batch. <paramref name="step"/> and <paramref name="epoch"/> name the step in errors.
    /// </summary>
    public StepResult Run(VlaBatch batch, StepNoise noise, double learningRate, long step = 0, int epoch = 0)
    {
        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        foreach (var paramGroup in Optimizer.ParamGroups) paramGroup.LearningRate = learningRate;
        var watch = Stopwatch.StartNew();
        var draws = noise.Draw(batch, _group, _policy.Spec.NoiseDim);
        double stepsPerRank = _group.AllReduceSum([batch.ActionMask.sum().item<long>()])[0] / _group.WorldSize;
        float lossValue;
        double forward;
        using (_policy.EnterTrainingStep(draws.Masks))
        {
            var loss = LossReduction.MaskedMean(_policy.ComputeLoss(batch.Input, batch.Actions, draws.Noise, draws.Time), batch.ActionMask, stepsPerRank);
            lossValue = (float)(_group.AllReduceSum([loss.item<float>()])[0] / _group.WorldSize);
            forward = watch.Elapsed.TotalSeconds;
            if (!float.IsFinite(lossValue))
                throw new VlaException($"The training loss became {lossValue} at step {step + 1} (epoch {epoch}); no weights were written. " +
                    "Try a lower optimizer.lr, a smaller lr_scheduler.warmup_steps ramp, or check the normalization stats for near-constant dimensions.");
            watch.Restart();
            (_scaler.Scale == 1 ? loss : loss * _scaler.Scale).backward();
        }
        double backward = watch.Elapsed.TotalSeconds;
        watch.Restart();
        _masters.TakeGradients(_scaler.Scale);
        double unscale = watch.Elapsed.TotalSeconds;
        watch.Restart();
        if (_group.WorldSize > 1) GradientAverager.Average(_masters.Optimized, _group, _bucketMb); // float32 gradients: masters and float32 parameters
        double allReduce = watch.Elapsed.TotalSeconds;

        watch.Restart();
        double gradNorm = _clip > 0 ? nn.utils.clip_grad_norm_(_masters.Optimized, _clip) : GradientNorm(_masters.Optimized);
        bool skipped = _scaler.Enabled && !double.IsFinite(gradNorm);
        if (!skipped) Optimizer.step();
        Optimizer.zero_grad();
        _policy.Module.zero_grad();
        if (!skipped) _masters.CopyToModel();
        _scaler.Update(skipped);
        return new StepResult(lossValue, gradNorm, skipped, new StepTimes(forward, backward, allReduce, unscale + watch.Elapsed.TotalSeconds));
    }

    /// <summary>The global L2 norm of all gradients (what clipping would measure), without clipping.</summary>
    private static double GradientNorm(IReadOnlyList<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var norms = parameters.Where(p => p.grad is not null).Select(p => p.grad!.norm()).ToArray();
        return norms.Length == 0 ? 0 : stack(norms).norm().item<float>();
    }

    /// <summary>Writes the optimizer state and, with mixed precision, the master weights and loss scale into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        Optimizer.save_state_dict(Path.Combine(folder, CheckpointFiles.Optimizer));
        _masters.Save(Path.Combine(folder, CheckpointFiles.MasterWeights), _scaler.ToMetadata());
    }

    /// <summary>Restores what <see cref="Save"/> wrote, onto the model's device.</summary>
    public void Load(string checkpointDir)
    {
        string path = Path.Combine(checkpointDir, CheckpointFiles.Optimizer);
        if (!File.Exists(path)) throw new BadInputException($"{path} is missing: the checkpoint cannot resume training (it holds no optimizer state).");
        try
        {
            Optimizer.load_state_dict(path);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new BadInputException($"{path} does not fit this optimizer's {Optimizer.ParamGroups.Count()} parameter groups (decayed matrices, undecayed biases and norms): " +
                "it was written by an earlier version that kept one group; the checkpoint still loads for inference and as a start for new training, " +
                "not for an exact resume.", e);
        }
        Optimizer.to(_policy.Device);
        _scaler.Restore(_masters.Load(Path.Combine(checkpointDir, CheckpointFiles.MasterWeights)));
    }

    /// <summary>Every tensor the optimizer holds, by name: master copies and AdamW's moments (placement and dtype checks).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> OptimizerTensors()
    {
        foreach (var (name, master) in _masters.ByName) yield return ($"master:{name}", master);
        int i = 0;
        foreach (var state in Optimizer.state_dict().State.OfType<AdamW.State>())
        {
            yield return ($"exp_avg[{i}]", state.exp_avg);
            yield return ($"exp_avg_sq[{i++}]", state.exp_avg_sq);
        }
    }

    /// <summary>Frees the optimizer and the master copies.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        _masters.Dispose();
    }
}

/// <summary>What one training step did.</summary>
/// <param name="Loss">The global batch's loss (averaged over ranks).</param>
/// <param name="GradNorm">The global gradient norm before clipping.</param>
/// <param name="Skipped">True when float16 gradients overflowed and the update was skipped (the loss scale backs off).</param>
/// <param name="Times">Where the step's time went.</param>
public sealed record StepResult(float Loss, double GradNorm, bool Skipped, StepTimes Times);
