using Vla.Model.Tokenization;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A policy's input transform, shared by training and inference as openpi's transform chain is: it tokenizes a batch's
/// prompts the policy's way (on the loader's workers, so no forward pass tokenizes) and turns the host arrays into the
/// policy's input on its device. Images reach it decoded and resized to <see cref="PolicySpec.ImageSize"/>, states
/// normalized (the data layer's work, declared by the spec).
/// </summary>
public abstract class PolicyTransform
{
    /// <summary>
    /// The token ids of <paramref name="prompts"/>; <paramref name="normalizedStates"/> (B × state_dim) is there for policies
    /// that write the state into the prompt.
    /// </summary>
    public abstract TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates);

    /// <summary>Most tokens a prompt keeps; longer ones are cut.</summary>
    public abstract int PromptMaxLength { get; }

    /// <summary>The tokens <paramref name="prompt"/> takes before any cut (to warn about prompts that will be cut).</summary>
    public abstract int TokenCount(string prompt);

    /// <summary>
    /// The input of <paramref name="arrays"/> as tensors on <paramref name="device"/> (from pinned memory with non-blocking
    /// copies on CUDA, <see cref="ComputeDevice.ToDevice"/>).
    /// </summary>
    public virtual PolicyInput ToInput(PolicyArrays arrays, Device device)
    {
        long n = arrays.Count, length = arrays.Tokens.Length;
        return new PolicyInput(
            Move(tensor(arrays.Images, [n, arrays.Cameras, 3, arrays.ImageSize, arrays.ImageSize]), device),
            Move(tensor(arrays.Tokens.Ids, [n, length]), device),
            Move(tensor(arrays.Tokens.Mask, [n, length]), device),
            Move(tensor(arrays.States, [n, arrays.StateDim]), device))
        {
            ImageMask = arrays.ImageMask is null ? null : Move(tensor(arrays.ImageMask, [n, arrays.Cameras]), device),
        };
    }

    /// <summary>A transform that tokenizes nothing: batches for data pipelines measured or tested without a policy.</summary>
    public static PolicyTransform None { get; } = new NoPrompt();

    private sealed class NoPrompt : PolicyTransform
    {
        public override TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates) => new([], [], prompts.Count, 0, 0);
        public override int PromptMaxLength => 0;
        public override int TokenCount(string prompt) => 0;
    }

    private static Tensor Move(Tensor host, Device device)
    {
        var moved = ComputeDevice.ToDevice(host, device);
        if (!ReferenceEquals(moved, host)) host.Dispose();
        return moved;
    }
}
