using TorchSharp;
using TorchSharp.Modules;
using Vla.Config;
using Vla.Data;
using Vla.Model.Tokenization;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The policy: PaliGemma encodes the current frame's cameras and the prompt once; a context projector
/// maps its final hidden states to the head's context, joined by a state token; the
/// <see cref="FlowMatchingHead"/> turns noise into a normalized action chunk. The surface mirrors openpi's
/// pi0: <see cref="EncodeContext"/>, <see cref="ComputeLoss"/>, <see cref="SampleActions"/>, <see cref="DenoiseStep"/>.
/// </summary>
public sealed class VlaModel : nn.Module
{
    private readonly PaliGemmaBackbone backbone;
    private readonly Sequential context_projector;
    private readonly Sequential state_encoder;
    private readonly FlowMatchingHead action_head;

    /// <summary>The run configuration the model was built from.</summary>
    public VlaConfig Config { get; }

    /// <summary>The prompt tokenizer.</summary>
    public PaliGemmaTokenizer Tokenizer { get; }

    /// <summary>The backbone.</summary>
    public PaliGemmaBackbone Backbone => backbone;

    /// <summary>Lower end of the flow-time distribution: t ~ Beta(1.5, 1)·(1 − MinTime) + MinTime, as pi0.</summary>
    public const double MinTime = 0.001;

    /// <summary>Builds the model around <paramref name="backboneModel"/>; the head starts from seeded random weights.</summary>
    public VlaModel(VlaConfig config, PaliGemmaBackbone backboneModel, PaliGemmaTokenizer tokenizer) : base(nameof(VlaModel))
    {
        Config = config;
        Tokenizer = tokenizer;
        var head = config.Model.ActionHeadConfig;
        int contextDim = config.Model.VisionResamplerConfig.OutputDim;
        backbone = backboneModel;
        context_projector = Mlp.Create(backboneModel.Config.Text.HiddenSize, [contextDim], contextDim);
        state_encoder = Mlp.Create(config.Data.StateDim, head.MlpHiddenDims, contextDim);
        action_head = new FlowMatchingHead(head, contextDim);
        RegisterComponents();
        backbone.Freeze(config.Model.VlmConfig.FreezeVisionTower, config.Model.VlmConfig.FreezeLanguageModel);
    }

    /// <summary>
    /// Builds the model for a run: loads the backbone and tokenizer from <c>model.vlm_config.model_name_or_path</c>
    /// (and <c>data.tokenizer_name_or_path</c> when set) and checks that the data layout fits the backbone.
    /// </summary>
    public static VlaModel Create(VlaConfig config, long seed)
    {
        string modelDir = PathResolver.ResolveExisting(config.Model.VlmConfig.ModelNameOrPath, config.BaseDirectory)
            ?? throw new BadInputException($"model.vlm_config.model_name_or_path: folder '{config.Model.VlmConfig.ModelNameOrPath}' does not exist.");
        string tokenizerDir = string.IsNullOrEmpty(config.Data.TokenizerNameOrPath) ? modelDir
            : PathResolver.ResolveExisting(config.Data.TokenizerNameOrPath, config.BaseDirectory)
              ?? throw new BadInputException($"data.tokenizer_name_or_path: '{config.Data.TokenizerNameOrPath}' does not exist.");
        var backbone = Weights.ModelWeights.LoadBackbone(modelDir);
        CheckFits(config, backbone.Config);
        var tokenizer = PaliGemmaTokenizer.Load(tokenizerDir);
        // TorchSharp's layers initialize from the process-wide generator: hold it while seeding and
        // building, so two models built at once (tests, notebooks) cannot interleave their draws.
        lock (InitGate)
        {
            manual_seed(seed);
            return new VlaModel(config, backbone, tokenizer);
        }
    }

    private static readonly Lock InitGate = new();

    /// <summary>Throws when the data layout in <paramref name="config"/> does not fit the backbone.</summary>
    public static void CheckFits(VlaConfig config, PaliGemmaConfig backbone)
    {
        if (config.Data.ImageSize != backbone.Vision.ImageSize)
            throw new BadInputException($"data.image_size is {config.Data.ImageSize} but the vision tower takes {backbone.Vision.ImageSize} px images.");
        if (config.Model.VlmConfig.NumImageTokens != backbone.NumImageTokens)
            throw new BadInputException($"model.vlm_config.num_image_tokens is {config.Model.VlmConfig.NumImageTokens} but the backbone makes {backbone.NumImageTokens} per image.");
    }

    /// <summary>
    /// The head's context for a batch: backbone final hidden states over [current-frame image tokens of every
    /// camera + prompt], projected, plus one state token. Returns (context (B, S + 1, C), mask (B, S + 1)).
    /// </summary>
    public (Tensor Context, Tensor Mask) EncodeContext(Tensor images, IReadOnlyList<string> prompts, Tensor state)
    {
        using var scope = NewDisposeScope();
        var tokens = Tokenizer.EncodeBatch(prompts, Config.Data.PromptMaxLen);
        var ids = tensor(tokens.Ids, [tokens.Batch, tokens.Length], ScalarType.Int64, images.device);
        var tokenMask = tensor(tokens.Mask, [tokens.Batch, tokens.Length], ScalarType.Bool, images.device);
        var current = images[.., -1];                                                     // (B, cameras, 3, H, W): the newest frame
        using var prefix = backbone.EmbedPrefix(current, ids, tokenMask);
        var hidden = backbone.EncodePrefix(prefix);                                      // (B, S, D)
        var context = context_projector.forward(hidden);                                 // (B, S, C)
        var mask = prefix.Mask;
        if (Config.Model.ActionHeadConfig.UseStateInput)
        {
            context = cat([context, state_encoder.forward(state).unsqueeze(1)], 1);      // + state token
            mask = cat([mask, ones(mask.shape[0], 1, ScalarType.Bool, mask.device)], 1);
        }
        return (context.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>One evaluation of the velocity field at (<paramref name="noisy"/>, <paramref name="time"/>).</summary>
    public Tensor DenoiseStep(Tensor noisy, Tensor time, Tensor context, Tensor contextMask) =>
        action_head.forward(noisy, time, context, contextMask);

    /// <summary>Draws flow times t ~ Beta(1.5, 1)·0.999 + 0.001 (inverse CDF: u^(1/1.5)).</summary>
    public static Tensor SampleTime(long batch, Generator? generator = null, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var u = rand([batch], ScalarType.Float32, device, generator: generator);
        return (u.pow(1 / 1.5) * (1 - MinTime) + MinTime).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The flow-matching loss of a batch: the MSE between predicted and target velocity (ε − a), over the
    /// chunk steps inside the episode. <paramref name="noise"/> and <paramref name="time"/> may be given for determinism.
    /// </summary>
    /// <remarks>
    /// <paramref name="stepsPerRank"/>, in data-parallel training, is the global count of chunk steps inside
    /// their episodes divided by the number of ranks: dividing by it (rather than by this rank's own count)
    /// makes the average of the ranks' gradients exactly the gradient of the whole batch's loss.
    /// </remarks>
    public Tensor ComputeLoss(VlaBatch batch, Tensor? noise = null, Tensor? time = null, Generator? generator = null, double? stepsPerRank = null)
    {
        using var scope = NewDisposeScope();
        var actions = batch.Actions;                                                      // (B, horizon, D)
        noise ??= randn(actions.shape, actions.dtype, actions.device, generator: generator);
        time ??= SampleTime(actions.shape[0], generator, actions.device);
        var t = time.view(-1, 1, 1);
        var noisy = t * noise + (1 - t) * actions;
        var target = noise - actions;
        var (context, mask) = EncodeContext(batch.Images, batch.Prompts, batch.State);
        var velocity = DenoiseStep(noisy, time, context, mask);
        return MaskedMse(velocity, target, batch.ActionMask, stepsPerRank).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean squared error over the chunk steps where <paramref name="stepMask"/> (B, horizon) is true,
    /// divided by their count, or by <paramref name="denominator"/> when given.
    /// </summary>
    public static Tensor MaskedMse(Tensor predicted, Tensor target, Tensor stepMask, double? denominator = null)
    {
        using var scope = NewDisposeScope();
        var perStep = (predicted - target).pow(2).mean([-1]);                             // (B, horizon)
        var weights = stepMask.to_type(perStep.dtype);
        var sum = (perStep * weights).sum();
        return (denominator is double d ? sum / Math.Max(d, 1e-12) : sum / weights.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Samples normalized action chunks (B, horizon, D): encodes the context once, then integrates
    /// dx/dt = v with Euler from t = 1 (noise) to t = 0 in <paramref name="steps"/> steps.
    /// </summary>
    public Tensor SampleActions(Tensor images, IReadOnlyList<string> prompts, Tensor state, int steps, Tensor? noise = null, Generator? generator = null)
    {
        using var guard = NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var head = Config.Model.ActionHeadConfig;
        var (context, mask) = EncodeContext(images, prompts, state);
        var start = noise ?? randn([images.shape[0], head.Horizon, head.PerActionDim], ScalarType.Float32, images.device, generator: generator);
        return EulerIntegrator.Integrate((x, t) => DenoiseStep(x, t, context, mask), start, steps).MoveToOuterDisposeScope();
    }
}
