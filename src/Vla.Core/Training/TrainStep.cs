using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>
/// One optimizer step of (data-parallel) flow-matching training, the only one in the repository: global-batch
/// noise and flow times, the masked loss, backward, gradient averaging across ranks, clipping, AdamW with the
/// learning rate given, and mixed precision. Trained parameters stored in bfloat16 or float16 get a float32
/// master copy that the optimizer updates (so its state is float32 too) and that is copied back into the
/// model after each step; float16 scales the loss (dynamic loss scaling, as <c>torch.cuda.amp.GradScaler</c>)
/// and skips a step whose gradients overflow.
/// </summary>
public sealed class TrainStep : IDisposable
{
    /// <summary>Float16's first loss scale, its growth after <see cref="GrowthInterval"/> clean steps, and its back-off on overflow.</summary>
    public const double InitialLossScale = 65536, GrowthFactor = 2, BackoffFactor = 0.5;
    /// <summary>Clean float16 steps before the loss scale grows.</summary>
    public const int GrowthInterval = 2000;

    private readonly VlaModel _model;
    private readonly IProcessGroup _group;
    private readonly double _clip;
    private readonly double _bucketMb;
    private readonly List<(string Name, Parameter Param)> _trained;
    private readonly Dictionary<string, Parameter> _masters = new();
    private readonly List<Parameter> _optimized;
    private readonly bool _scaleLoss;
    private int _cleanSteps;

    /// <summary>The optimizer (over float32 parameters and master copies).</summary>
    public OptimizerHelper Optimizer { get; }

    /// <summary>The model's trained parameters, in model order.</summary>
    public IReadOnlyList<Parameter> Trained => _trained.Select(t => t.Param).ToList();

    /// <summary>Float32 master copies of the trained half-precision parameters, by parameter name.</summary>
    public IReadOnlyDictionary<string, Parameter> Masters => _masters;

    /// <summary>The current loss scale (1 unless the backbone trains in float16).</summary>
    public double LossScale { get; private set; } = 1;

    /// <summary>Sets up the step for <paramref name="model"/> as <paramref name="config"/>'s optimizer and training sections say.</summary>
    public TrainStep(VlaModel model, VlaConfig config, IProcessGroup? group = null)
    {
        _model = model;
        _group = group ?? new SingleProcessGroup();
        _clip = config.Training.GradClipNorm;
        _bucketMb = config.Training.DdpBucketMb;
        _trained = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        _optimized = new List<Parameter>(_trained.Count);
        foreach (var (name, p) in _trained)
        {
            if (!ModelDtype.IsHalf(p.dtype)) { _optimized.Add(p); continue; }
            var master = new Parameter(p.detach().to_type(ScalarType.Float32), requires_grad: true);
            _masters[name] = master;
            _optimized.Add(master);
            _scaleLoss |= p.dtype == ScalarType.Float16;
        }
        // Gradients that flow back through a float16 backbone underflow without scaling, even when only float32
        // tensors (LoRA adapters, the head) train.
        _scaleLoss |= model.BackboneDtype == ScalarType.Float16 && _trained.Count > 0;
        if (_scaleLoss) LossScale = InitialLossScale;
        var o = config.Optimizer;
        Optimizer = optim.AdamW(_optimized, o.Lr, o.Betas[0], o.Betas[1], weight_decay: o.WeightDecay);
    }

    /// <summary>
    /// Trains on this rank's part of one global batch at <paramref name="learningRate"/>. Noise and flow times
    /// are drawn for the whole global batch from <paramref name="generator"/> and sliced, so N ranks compute
    /// what one process computes. <paramref name="step"/> and <paramref name="epoch"/> name the step in errors.
    /// </summary>
    public StepResult Run(VlaBatch batch, Generator generator, double learningRate, long step = 0, int epoch = 0)
    {
        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        foreach (var paramGroup in Optimizer.ParamGroups) paramGroup.LearningRate = learningRate;
        var watch = Stopwatch.StartNew();
        var (noise, time, masks) = GlobalNoise(batch, generator);
        BatchDropout.Source = masks; // dropout masks per global sample, seeded by this step's draw from the generator
        try
        {
            return Step(batch, noise, time, step, epoch, watch);
        }
        finally
        {
            BatchDropout.Source = null;
        }
    }

    private StepResult Step(VlaBatch batch, Tensor noise, Tensor time, long step, int epoch, Stopwatch watch)
    {
        double stepsPerRank = _group.AllReduceSum([batch.ActionMask.sum().item<long>()])[0] / _group.WorldSize;
        var input = new PolicyInput(batch.Images, batch.TokenIds, batch.TokenMask, batch.State);
        var loss = VlaModel.MaskedMean(_model.ComputeLoss(input, batch.Actions, noise, time), batch.ActionMask, stepsPerRank);
        float lossValue = (float)(_group.AllReduceSum([loss.item<float>()])[0] / _group.WorldSize);
        double forward = watch.Elapsed.TotalSeconds;
        if (!float.IsFinite(lossValue))
            throw new VlaException($"The training loss became {lossValue} at step {step + 1} (epoch {epoch}); no weights were written. " +
                "Try a lower optimizer.lr, a smaller lr_scheduler.warmup_steps ramp, or check the normalization stats for near-constant dimensions.");

        watch.Restart();
        (LossScale == 1 ? loss : loss * LossScale).backward();
        ActivationCheckpoint.ReleaseReturned();
        double backward = watch.Elapsed.TotalSeconds;
        watch.Restart();
        MoveGradientsToMasters();
        double unscale = watch.Elapsed.TotalSeconds;
        watch.Restart();
        if (_group.WorldSize > 1) GradientAverager.Average(_optimized, _group, _bucketMb); // float32 gradients: masters and float32 parameters
        double allReduce = watch.Elapsed.TotalSeconds;

        watch.Restart();
        double gradNorm = _clip > 0 ? nn.utils.clip_grad_norm_(_optimized, _clip) : GradientNorm(_optimized);
        bool skipped = _scaleLoss && !double.IsFinite(gradNorm);
        if (!skipped) Optimizer.step();
        Optimizer.zero_grad();
        _model.zero_grad();
        if (!skipped) CopyMastersToModel();
        UpdateLossScale(skipped);
        return new StepResult(lossValue, gradNorm, skipped, new StepTimes(forward, backward, allReduce, unscale + watch.Elapsed.TotalSeconds));
    }

    /// <summary>
    /// Draws ε and t for the global batch on the host and returns this rank's contiguous slice of both, on the batch's
    /// device, and where this step's dropout masks come from.
    /// </summary>
    private (Tensor Noise, Tensor Time, BatchDropout.MaskSource Masks) GlobalNoise(VlaBatch batch, Generator generator)
    {
        int local = batch.Size;
        int global = (int)_group.AllReduceSum([local])[0];
        var (offset, _) = BatchLoader.Slice(global, _group.Rank, _group.WorldSize);
        var noise = VlaModel.SampleNoise([global, batch.Actions.shape[1], batch.Actions.shape[2]], generator);
        var time = VlaModel.SampleTime(global, generator);
        var device = batch.Actions.device;
        // One draw a step when the model has dropout, whatever the shapes, so every rank's generator stays where one process's is.
        long Seed()
        {
            using var drawn = randint(long.MaxValue, [1], ScalarType.Int64, generator: generator);
            return drawn.item<long>();
        }
        return (ComputeDevice.ToDevice(noise.narrow(0, offset, local).contiguous(), device), ComputeDevice.ToDevice(time.narrow(0, offset, local).contiguous(), device),
            new BatchDropout.MaskSource(Seed, global, offset, local));
    }

    /// <summary>Unscales the gradients and hands a half-precision parameter's gradient to its float32 master.</summary>
    private void MoveGradientsToMasters()
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in _trained)
        {
            if (p.grad is null) continue;
            if (_masters.TryGetValue(name, out var master))
            {
                master.grad ??= zeros_like(master).DetachFromDisposeScope();
                master.grad.copy_(p.grad);
                if (LossScale != 1) master.grad.div_(LossScale);
            }
            else if (LossScale != 1) p.grad.div_(LossScale);
        }
    }

    private void CopyMastersToModel()
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in _trained)
            if (_masters.TryGetValue(name, out var master)) p.copy_(master);
    }

    private void UpdateLossScale(bool overflowed)
    {
        if (!_scaleLoss) return;
        if (overflowed) { LossScale *= BackoffFactor; _cleanSteps = 0; }
        else if (++_cleanSteps >= GrowthInterval) { LossScale *= GrowthFactor; _cleanSteps = 0; }
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
        if (_masters.Count == 0) return;
        SafetensorsFile.Write(Path.Combine(folder, CheckpointFiles.MasterWeights), _masters.Select(m => (m.Key, (Tensor)m.Value)),
            new Dictionary<string, string> { ["loss_scale"] = LossScale.ToString("R"), ["clean_steps"] = _cleanSteps.ToString() });
    }

    /// <summary>Restores what <see cref="Save"/> wrote, onto the model's device.</summary>
    public void Load(string checkpointDir)
    {
        string path = Path.Combine(checkpointDir, CheckpointFiles.Optimizer);
        if (!File.Exists(path)) throw new BadInputException($"{path} is missing: the checkpoint cannot resume training (it holds no optimizer state).");
        Optimizer.load_state_dict(path);
        Optimizer.to(_model.Device);
        if (_masters.Count == 0) return;
        string masters = Path.Combine(checkpointDir, CheckpointFiles.MasterWeights);
        if (!File.Exists(masters)) throw new BadInputException($"{masters} is missing: a {ModelDtype.Name(_trained.First(t => _masters.ContainsKey(t.Name)).Param.dtype)} run cannot resume exactly without its float32 master weights.");
        var file = SafetensorsFile.Open(masters);
        var entries = file.Entries.ToDictionary(e => e.Name);
        var absent = _masters.Keys.Where(k => !entries.ContainsKey(k)).ToList();
        if (absent.Count > 0) throw new BadInputException($"{masters} lacks the master weights of {string.Join(", ", absent.Take(5))}{(absent.Count > 5 ? ", …" : "")}.");
        using (no_grad())
            foreach (var (name, master) in _masters) file.CopyInto(entries[name], master);
        if (file.Metadata.TryGetValue("loss_scale", out var scale)) LossScale = double.Parse(scale, System.Globalization.CultureInfo.InvariantCulture);
        if (file.Metadata.TryGetValue("clean_steps", out var clean)) _cleanSteps = int.Parse(clean, System.Globalization.CultureInfo.InvariantCulture);
        CopyMastersToModel();
    }

    /// <summary>Every tensor the optimizer holds, by name: master copies and AdamW's moments (placement and dtype checks).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> OptimizerTensors()
    {
        foreach (var (name, master) in _masters) yield return ($"master:{name}", master);
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
        foreach (var master in _masters.Values) master.Dispose();
    }
}

/// <summary>What one training step did.</summary>
/// <param name="Loss">The global batch's loss (averaged over ranks).</param>
/// <param name="GradNorm">The global gradient norm before clipping.</param>
/// <param name="Skipped">True when float16 gradients overflowed and the update was skipped (the loss scale backs off).</param>
/// <param name="Times">Where the step's time went.</param>
public sealed record StepResult(float Loss, double GradNorm, bool Skipped, StepTimes Times);
