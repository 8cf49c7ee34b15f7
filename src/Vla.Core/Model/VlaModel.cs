using TorchSharp;
using TorchSharp.Modules;
using Vla.Config;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The policy: PaliGemma encodes the current frame's cameras and the prompt once; a context projector
/// maps its final hidden states to the head's context, joined by a state token; the
/// <see cref="FlowMatchingHead"/> turns noise into a normalized action chunk. The surface mirrors openpi's
/// pi0: <see cref="EncodeContext"/>, <see cref="ComputeLoss"/>, <see cref="SampleActions"/>, <see cref="DenoiseStep"/>.
/// The backbone runs in its own dtype (<see cref="ModelDtype"/>); the projectors and the head in float32.
/// Build one from a config or a checkpoint with <c>Checkpoints.ModelFactory</c>.
/// </summary>
public sealed class VlaModel : nn.Module
{
    private readonly PaliGemmaBackbone backbone;
    private readonly Sequential context_projector;
    private readonly Sequential state_encoder;
    private readonly FlowMatchingHead action_head;
    private readonly ActivationCheckpointing _checkpointing;

    /// <summary>The run configuration the model was built from.</summary>
    public VlaConfig Config { get; }

    /// <summary>The backbone.</summary>
    public PaliGemmaBackbone Backbone => backbone;

    /// <summary>
    /// Builds the model around <paramref name="backboneModel"/> (kept in its dtype); the projectors, the head and any
    /// LoRA adapters (<c>model.lora</c>) start from random float32 weights drawn from the process-wide generator.
    /// </summary>
    public VlaModel(VlaConfig config, PaliGemmaBackbone backboneModel) : base(nameof(VlaModel))
    {
        Config = config;
        var head = config.Model.ActionHeadConfig;
        int contextDim = config.Model.VisionResamplerConfig.OutputDim;
        backbone = backboneModel;
        context_projector = Mlp.Create(backboneModel.Config.Text.HiddenSize, [contextDim], contextDim);
        state_encoder = Mlp.Create(config.Data.StateDim, head.MlpHiddenDims, contextDim);
        action_head = new FlowMatchingHead(head, contextDim, Dropout);
        RegisterComponents();
        backbone.Freeze(config.Model.VlmConfig.FreezeVisionTower, config.Model.VlmConfig.FreezeLanguageModel);
        if (config.Model.Lora.Enabled) LoraAdapters.Attach(backbone, config.Model.Lora, Dropout); // freezes the whole base
        _checkpointing = new ActivationCheckpointing(Dropout);
        GradientCheckpointing = config.Training.GradientCheckpointing;
    }

    /// <summary>Where this model's dropout layers take a training step's masks from.</summary>
    public DropoutMasks Dropout { get; } = new();

    /// <summary>Recompute the backbone's layer activations during backward instead of keeping them (<c>training.gradient_checkpointing</c>).</summary>
    public bool GradientCheckpointing
    {
        get => backbone.Checkpointing is not null;
        set => backbone.Checkpointing = value ? _checkpointing : null;
    }

    /// <summary>Backbone layers recomputed in backward since the model was built.</summary>
    public long Recomputations => _checkpointing.Recomputations;

    /// <summary>
    /// Marks a training step's forward and backward: dropout draws <paramref name="masks"/> until disposed, and disposing
    /// frees what recomputed layers handed back to the backward pass.
    /// </summary>
    public IDisposable EnterTrainingStep(DropoutMasks.Source masks) => new TrainingStep(Dropout.Use(masks), _checkpointing);

    private sealed class TrainingStep(IDisposable masks, ActivationCheckpointing checkpointing) : IDisposable
    {
        public void Dispose()
        {
            masks.Dispose();
            checkpointing.ReleaseReturned();
        }
    }

    /// <summary>Throws when the data layout in <paramref name="config"/> does not fit the backbone.</summary>
    public static void CheckFits(VlaConfig config, PaliGemmaConfig backbone)
    {
        if (config.Data.ImageSize != backbone.Vision.ImageSize)
            throw new BadInputException($"data.image_size is {config.Data.ImageSize} but the vision tower takes {backbone.Vision.ImageSize} px images.");
        if (config.Model.VlmConfig.NumImageTokens != backbone.NumImageTokens)
            throw new BadInputException($"model.vlm_config.num_image_tokens is {config.Model.VlmConfig.NumImageTokens} but the backbone makes {backbone.NumImageTokens} per image.");
    }

    /// <summary>The backbone's dtype (<c>model.vlm_config.dtype</c>).</summary>
    public ScalarType BackboneDtype => backbone.parameters().First().dtype;

    /// <summary>The device the parameters live on.</summary>
    public Device Device => parameters().First().device;

    /// <summary>
    /// The head's context: backbone final hidden states over [current-frame image tokens of every camera +
    /// prompt], cast to float32 and projected, plus one state token. Returns (context (B, S + 1, C), mask (B, S + 1)).
    /// </summary>
    public (Tensor Context, Tensor Mask) EncodeContext(PolicyInput input)
    {
        using var scope = NewDisposeScope();
        using var prefix = backbone.EmbedPrefix(input.Images, input.TokenIds, input.TokenMask);
        var hidden = backbone.EncodePrefix(prefix).to_type(ScalarType.Float32);         // (B, S, D)
        var context = context_projector.forward(hidden);                                 // (B, S, C)
        var mask = prefix.Mask.alias();                                                 // the prefix (and its own mask) is disposed below
        if (Config.Model.ActionHeadConfig.UseStateInput)
        {
            context = cat([context, state_encoder.forward(input.State).unsqueeze(1)], 1); // + state token
            mask = cat([mask, ones(mask.shape[0], 1, ScalarType.Bool, mask.device)], 1);
        }
        return (context.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>One evaluation of the velocity field at (<paramref name="noisy"/>, <paramref name="time"/>).</summary>
    public Tensor DenoiseStep(Tensor noisy, Tensor time, Tensor context, Tensor contextMask) =>
        action_head.forward(noisy, time, context, contextMask);

    /// <summary>
    /// The flow-matching loss per chunk step, unreduced (B, horizon), in float32: the squared error between
    /// predicted and target velocity (ε − a), averaged over the action dimensions. The caller masks padded
    /// steps and reduces (Training's LossReduction), as openpi's <c>compute_loss</c> leaves it to the trainer.
    /// </summary>
    public Tensor ComputeLoss(PolicyInput input, Tensor actions, Tensor noise, Tensor time)
    {
        using var scope = NewDisposeScope();
        var t = time.view(-1, 1, 1);                                                      // (B, 1, 1)
        var noisy = t * noise + (1 - t) * actions;                                        // (B, horizon, D)
        var target = noise - actions;
        var (context, mask) = EncodeContext(input);
        var velocity = DenoiseStep(noisy, time, context, mask);
        return (velocity - target).pow(2).mean([-1]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Samples normalized action chunks (B, horizon, D) in float32: encodes the context once, then integrates
    /// dx/dt = v with Euler from t = 1 (noise) to t = 0 in <paramref name="steps"/> steps. With <paramref name="guidance"/>
    /// (real-time chunking), each step's velocity is guided towards the previous chunk's remaining actions.
    /// </summary>
    public Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null)
    {
        using var guard = NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var head = Config.Model.ActionHeadConfig;
        var (context, mask) = EncodeContext(input);
        var start = noise ?? FlowMatching.SampleNoise([input.Size, head.Horizon, head.PerActionDim], generator, context.device);
        // The context's keys and values and every step's time conditioning, computed once for the chunk.
        var prepared = action_head.Prepare(context, mask, EulerIntegrator.Times(steps));
        Func<Tensor, Tensor, double, Tensor> velocity = guidance is null
            ? (x, time, t) => action_head.forward(x, time, prepared, t)
            : (x, time, t) => guidance.Velocity(y => action_head.forward(y, time, prepared, t), x, time, t);
        return EulerIntegrator.Integrate(velocity, start, steps).MoveToOuterDisposeScope();
    }
}
