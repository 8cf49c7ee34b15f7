using TorchSharp;
using TorchSharp.Modules;
using Vla.Model.Tokenization;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// The <c>paligemma_flow</c> policy: PaliGemma encodes the current frame's cameras and the prompt once; a context projector
/// maps its final hidden states to the head's context, joined by a state token; the <see cref="FlowMatchingHead"/> turns
/// noise into a normalized action chunk. The surface mirrors openpi's pi0: <see cref="EncodeContext"/>,
/// <see cref="ComputeLoss"/>, <see cref="SampleActions"/>, <see cref="DenoiseStep"/>. The backbone runs in its own dtype
/// (<see cref="ModelDtype"/>); the projectors and the head in float32. Built from a config or a checkpoint by
/// <c>Checkpoints.ModelFactory</c>; its files are <see cref="VlaModelFolder"/>'s.
/// </summary>
public sealed class VlaModel : nn.Module, ITrainablePolicy
{
    /// <summary>The family's name (<c>model.policy</c>).</summary>
    public const string Family = "paligemma_flow";

    private readonly PaliGemmaBackbone backbone;
    private readonly Sequential context_projector;
    private readonly Sequential state_encoder;
    private readonly FlowMatchingHead action_head;
    private readonly ActivationCheckpointing _checkpointing;

    /// <summary>
    /// Builds the model around <paramref name="backboneModel"/> (kept in its dtype) and its <paramref name="tokenizer"/>; the
    /// projectors, the head and any LoRA adapters start from random float32 weights drawn from the process-wide generator
    /// (<c>ModelFactory</c> seeds it and holds it while they are drawn).
    /// </summary>
    public VlaModel(VlaModelConfig config, PaliGemmaBackbone backboneModel, PaliGemmaTokenizer tokenizer) : base(nameof(VlaModel))
    {
        Config = config;
        Transform = new PaliGemmaFlowTransform(tokenizer, config.PromptMaxLength);
        backbone = backboneModel;
        context_projector = Mlp.Create(backboneModel.Config.Text.HiddenSize, [config.ContextDim], config.ContextDim);
        state_encoder = Mlp.Create(config.StateDim, config.MlpHiddenDims, config.ContextDim);
        action_head = new FlowMatchingHead(config.Head, config.ContextDim, Dropout);
        RegisterComponents();
        backbone.Freeze(config.FreezeVisionTower, config.FreezeLanguageModel);
        if (config.LoraRank > 0) LoraAdapters.Attach(backbone, config.Lora, Dropout); // freezes the whole base
        _checkpointing = new ActivationCheckpointing(Dropout);
    }

    /// <summary>The model's shape and hyperparameters.</summary>
    public VlaModelConfig Config { get; }

    /// <summary>The backbone.</summary>
    public PaliGemmaBackbone Backbone => backbone;

    /// <summary>The prompt tokenizer.</summary>
    public PaliGemmaTokenizer Tokenizer => ((PaliGemmaFlowTransform)Transform).Tokenizer;

    /// <inheritdoc/>
    public PolicySpec Spec => Config.Spec with { Dtype = ModelDtype.Name(BackboneDtype) };

    /// <inheritdoc/>
    public PolicyTransform Transform { get; }

    /// <inheritdoc/>
    public nn.Module Module => this;

    /// <summary>The backbone's dtype (<c>model.vlm_config.dtype</c>).</summary>
    public ScalarType BackboneDtype => backbone.parameters().First().dtype;

    /// <inheritdoc/>
    public Device Device => parameters().First().device;

    /// <summary>Where this model's dropout layers take a training step's masks from.</summary>
    public DropoutMasks Dropout { get; } = new();

    /// <inheritdoc/>
    public bool GradientCheckpointing
    {
        get => backbone.Checkpointing is not null;
        set => backbone.Checkpointing = value ? _checkpointing : null;
    }

    /// <summary>Backbone layers recomputed in backward since the model was built.</summary>
    public long Recomputations => _checkpointing.Recomputations;

    /// <inheritdoc/>
    public IDisposable EnterTrainingStep(DropoutMasks.Source masks) => new TrainingStep(Dropout.Use(masks), _checkpointing);

    private sealed class TrainingStep(IDisposable masks, ActivationCheckpointing checkpointing) : IDisposable
    {
        public void Dispose()
        {
            masks.Dispose();
            checkpointing.ReleaseReturned();
        }
    }

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
        if (Config.UseStateInput)
        {
            context = cat([context, state_encoder.forward(input.State).unsqueeze(1)], 1); // + state token
            mask = cat([mask, ones(mask.shape[0], 1, ScalarType.Bool, mask.device)], 1);
        }
        return (context.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>One evaluation of the velocity field at (<paramref name="noisy"/>, <paramref name="time"/>).</summary>
    public Tensor DenoiseStep(Tensor noisy, Tensor time, Tensor context, Tensor contextMask) =>
        action_head.forward(noisy, time, context, contextMask);

    /// <inheritdoc/>
    /// <remarks>The squared error between predicted and target velocity (ε − a), averaged over the action dimensions.</remarks>
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

    /// <inheritdoc/>
    /// <remarks>The context is encoded once; then dx/dt = v is integrated with Euler from t = 1 (noise) to t = 0.</remarks>
    public Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null)
    {
        using var guard = Runtime.NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (context, mask) = EncodeContext(input);
        var start = noise ?? FlowMatching.SampleNoise([input.Size, Config.Horizon, Config.PerActionDim], generator, context.device);
        // The context's keys and values and every step's time conditioning, computed once for the chunk.
        var prepared = action_head.Prepare(context, mask, EulerIntegrator.Times(steps));
        Func<Tensor, Tensor, double, Tensor> velocity = guidance is null
            ? (x, time, t) => action_head.forward(x, time, prepared, t)
            : (x, time, t) => guidance.Velocity(y => action_head.forward(y, time, prepared, t), x, time, t);
        return EulerIntegrator.Integrate(velocity, start, steps).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Save(string folder) => VlaModelFolder.Save(this, folder);
}
