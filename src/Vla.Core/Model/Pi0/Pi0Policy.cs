using TorchSharp;
using Vla.Config;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// A pi0 or pi0.5 model as a policy: it reads <see cref="PolicySpec.Cameras"/> cameras (one the observation lacks is masked
/// out, as LeRobot does), the robot's state padded with zeros to <c>max_state_dim</c>, and returns chunks cut from
/// <c>max_action_dim</c> to the robot's action values. Noise covers the padded width, as LeRobot's does. It trains as LeRobot's
/// <c>PI0Policy.forward</c> does (the loss over the robot's action values only), with LoRA on PaliGemma and on the expert
/// when <see cref="AttachAdapters"/> asked for them; its checkpoint files are <see cref="Pi0CheckpointFiles"/>'.
/// </summary>
public sealed class Pi0Policy : ITrainablePolicy
{
    private readonly ActivationCheckpointing _checkpointing;

    /// <summary>
    /// The policy of <paramref name="model"/> for a robot with <paramref name="cameras"/> cameras, <paramref name="stateDim"/>
    /// state and <paramref name="actionDim"/> action values, prompts made by <paramref name="transform"/>, normalized as the code
    /// that trained it does (<paramref name="normalization"/>: LeRobot's unless said).
    /// </summary>
    public Pi0Policy(Pi0Model model, PolicyTransform transform, int cameras, int stateDim, int actionDim, NormalizationStyle normalization = NormalizationStyle.LeRobot)
    {
        Model = model;
        Transform = transform;
        Tokenizer = transform switch { Pi0Transform t => t.Tokenizer, Pi05Transform t => t.Tokenizer, _ => null };
        Spec = new PolicySpec
        {
            Family = model.Family.Family, Cameras = cameras, ImageSize = model.Config.PaliGemma.Vision.ImageSize, StateDim = stateDim,
            ReadsState = true, Horizon = model.Config.ChunkSize, ActionDim = actionDim, NumInferenceSteps = model.Config.NumInferenceSteps,
            NoiseDim = model.Config.MaxActionDim, Dtype = ModelDtype.Name(model.Dtype), MasksMissingCameras = true, ImageFit = ImageFit.Pad, Normalization = normalization,
        };
        _checkpointing = new ActivationCheckpointing(Dropout);
    }

    /// <summary>The model.</summary>
    public Pi0Model Model { get; }

    /// <inheritdoc/>
    public PolicySpec Spec { get; }

    /// <inheritdoc/>
    public PolicyTransform Transform { get; }

    /// <summary>The prompt tokenizer (null when a test feeds token ids itself).</summary>
    public Tokenization.PaliGemmaTokenizer? Tokenizer { get; }

    /// <summary>The LeRobot folder the weights were loaded from (a checkpoint refers to it for the frozen ones), or null for a model built in code.</summary>
    public string? Pretrained { get; init; }

    /// <inheritdoc/>
    public Device Device => Model.parameters().First().device;

    /// <inheritdoc/>
    public nn.Module Module => Model;

    /// <summary>Where the adapters' dropout takes a training step's masks from (pi0 itself has no dropout).</summary>
    public DropoutMasks Dropout { get; } = new();

    /// <summary>The adapters on PaliGemma and on the expert (rank 0 where there are none).</summary>
    public (LoraConfig Vlm, LoraConfig Expert) Adapters { get; private set; } = (new LoraConfig(), new LoraConfig());

    /// <inheritdoc/>
    public bool GradientCheckpointing
    {
        get => Model.PaliGemmaWithExpert.Checkpointing is not null;
        set => Model.PaliGemmaWithExpert.Checkpointing = value ? _checkpointing : null;
    }

    /// <summary>Joint layers and vision layers recomputed in backward since the policy was built.</summary>
    public long Recomputations => _checkpointing.Recomputations;

    /// <summary>
    /// Chooses what trains, as openpi's LoRA configs do: with a <paramref name="vlm"/> rank, PaliGemma is frozen and adapted;
    /// without one, its vision tower and language model train unless <paramref name="freezeVisionTower"/> /
    /// <paramref name="freezeLanguageModel"/> hold them; with an <paramref name="expert"/> rank the expert is frozen and
    /// adapted, else it trains fully. The action and time projections always train. Adapters draw from the process-wide generator.
    /// </summary>
    public void AttachAdapters(LoraConfig vlm, LoraConfig expert, bool freezeVisionTower, bool freezeLanguageModel)
    {
        var joint = Model.PaliGemmaWithExpert;
        joint.PaliGemma.Freeze(freezeVisionTower, freezeLanguageModel);
        if (vlm.Enabled) LoraAdapters.Attach(joint.PaliGemma, vlm, Dropout, "model.lora");
        if (expert.Enabled) LoraAdapters.Attach(joint.Expert, expert, Dropout, "model.expert_lora");
        Adapters = (vlm, expert);
    }

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

    /// <inheritdoc/>
    /// <remarks>
    /// <paramref name="actions"/> (B, chunk, action_dim) are padded with zeros to <c>max_action_dim</c> and <paramref name="noise"/>
    /// is (B, chunk, max_action_dim); the squared velocity error is averaged over the robot's action values only, as
    /// LeRobot's <c>PI0Policy.forward</c> does.
    /// </remarks>
    public Tensor ComputeLoss(PolicyInput input, Tensor actions, Tensor noise, Tensor time)
    {
        var config = Model.Config;
        if (!noise.shape.SequenceEqual([actions.shape[0], actions.shape[1], config.MaxActionDim]))
            throw new ArgumentException($"{Spec.Family} trains with noise of shape [B, chunk, {config.MaxActionDim}] (max_action_dim), got [{string.Join(", ", noise.shape)}].", nameof(noise));
        using var scope = NewDisposeScope();
        var (images, imageMask, state) = Prepare(input);
        using var prefix = Model.EmbedPrefix(images, imageMask, input.TokenIds, input.TokenMask);
        var padded = nn.functional.pad(actions.to_type(ScalarType.Float32), [0, config.MaxActionDim - actions.shape[2]]);
        var losses = Model.Losses(prefix, state, padded, noise.to_type(ScalarType.Float32), time);
        return losses.narrow(2, 0, actions.shape[2]).mean([-1]).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    /// <remarks><paramref name="noise"/> is (B, chunk_size, max_action_dim); the result is (B, chunk_size, action_dim).</remarks>
    public Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null)
    {
        var config = Model.Config;
        long[] shape = [input.Size, config.ChunkSize, config.MaxActionDim];
        if (noise is not null && !noise.shape.SequenceEqual(shape))
            throw new ArgumentException($"{Spec.Family} samples from noise of shape [{string.Join(", ", shape)}] (chunk_size × max_action_dim), got [{string.Join(", ", noise.shape)}].", nameof(noise));
        using var guard = Runtime.NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (images, imageMask, state) = Prepare(input);
        using var prefix = Model.EmbedPrefix(images, imageMask, input.TokenIds, input.TokenMask);
        var start = noise ?? FlowMatching.SampleNoise(shape, generator, input.Images.device);
        var chunk = Model.SampleActions(prefix, state, start, steps, guidance);
        return chunk.narrow(2, 0, Spec.ActionDim).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The cameras (a missing one an image of −1), which of them are present (B, cameras), and the state padded to <c>max_state_dim</c>.</summary>
    private (Tensor Images, Tensor ImageMask, Tensor State) Prepare(PolicyInput input)
    {
        var config = Model.Config;
        long b = input.Size;
        if (input.State.shape[1] > config.MaxStateDim)
            throw new ArgumentException($"{Spec.Family} reads at most {config.MaxStateDim} state values (max_state_dim), got {input.State.shape[1]}.", nameof(input));
        var state = nn.functional.pad(input.State.to_type(ScalarType.Float32), [0, config.MaxStateDim - input.State.shape[1]]);
        var imageMask = input.ImageMask?.to(input.Images.device).to_type(ScalarType.Bool) ?? ones(b, input.Images.shape[1], ScalarType.Bool, input.Images.device);
        // A missing camera is an image of -1 (LeRobot's), whatever the caller left there: its tokens are masked, but NaN pixels would still spread.
        var images = where(imageMask.view(b, -1, 1, 1, 1), input.Images, full_like(input.Images, -1));
        return (images, imageMask, state);
    }

    /// <inheritdoc/>
    public void Save(string folder) => Pi0CheckpointFiles.Save(this, folder);

    /// <summary>Frees the model.</summary>
    public void Dispose() => Model.Dispose();
}
