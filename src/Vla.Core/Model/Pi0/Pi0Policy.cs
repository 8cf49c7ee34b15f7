using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// A pi0 or pi0.5 model as a sampling policy: it reads <see cref="PolicySpec.Cameras"/> cameras (one the observation lacks is
/// masked out, as LeRobot does), the robot's state padded with zeros to <c>max_state_dim</c>, and returns chunks cut from
/// <c>max_action_dim</c> to the robot's action values. Noise covers the padded width, as LeRobot's does.
/// </summary>
public sealed class Pi0Policy(Pi0Model model, PolicyTransform transform, int cameras, int stateDim, int actionDim) : ISamplingPolicy
{
    /// <summary>The model.</summary>
    public Pi0Model Model { get; } = model;

    /// <inheritdoc/>
    public PolicySpec Spec { get; } = new()
    {
        Family = model.Family.Family, Cameras = cameras, ImageSize = model.Config.PaliGemma.Vision.ImageSize, StateDim = stateDim,
        ReadsState = true, Horizon = model.Config.ChunkSize, ActionDim = actionDim, NumInferenceSteps = model.Config.NumInferenceSteps,
        NoiseDim = model.Config.MaxActionDim, Dtype = "float32",
    };

    /// <inheritdoc/>
    public PolicyTransform Transform { get; } = transform;

    /// <inheritdoc/>
    public Device Device => Model.parameters().First().device;

    /// <inheritdoc/>
    /// <remarks><paramref name="noise"/> is (B, chunk_size, max_action_dim); the result is (B, chunk_size, action_dim).</remarks>
    public Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null)
    {
        var config = Model.Config;
        long b = input.Size;
        long[] shape = [b, config.ChunkSize, config.MaxActionDim];
        if (noise is not null && !noise.shape.SequenceEqual(shape))
            throw new ArgumentException($"{Spec.Family} samples from noise of shape [{string.Join(", ", shape)}] (chunk_size × max_action_dim), got [{string.Join(", ", noise.shape)}].", nameof(noise));
        if (input.State.shape[1] > config.MaxStateDim)
            throw new ArgumentException($"{Spec.Family} reads at most {config.MaxStateDim} state values (max_state_dim), got {input.State.shape[1]}.", nameof(input));
        using var guard = Runtime.NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var state = nn.functional.pad(input.State.to_type(ScalarType.Float32), [0, config.MaxStateDim - input.State.shape[1]]);
        var imageMask = input.ImageMask?.to(input.Images.device).to_type(ScalarType.Bool) ?? ones(b, input.Images.shape[1], ScalarType.Bool, input.Images.device);
        // A missing camera is an image of -1 (LeRobot's), whatever the caller left there: its tokens are masked, but NaN pixels would still spread.
        var images = where(imageMask.view(b, -1, 1, 1, 1), input.Images, full_like(input.Images, -1));
        using var prefix = Model.EmbedPrefix(images, imageMask, input.TokenIds, input.TokenMask);
        var start = noise ?? FlowMatching.SampleNoise(shape, generator, input.Images.device);
        var chunk = Model.SampleActions(prefix, state, start, steps, guidance);
        return chunk.narrow(2, 0, Spec.ActionDim).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Frees the model.</summary>
    public void Dispose() => Model.Dispose();
}
