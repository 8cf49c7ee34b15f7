using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// What the policy reads, already on the model's device and tokenized (as openpi's <c>Observation</c>):
/// the current frame of every camera, the prompt's token ids with their padding mask, and the normalized state.
/// </summary>
/// <param name="Images">(B, cameras, 3, H, W) float32 in [-1, 1].</param>
/// <param name="TokenIds">(B, L) int64: BOS + prompt + "\n", right-padded.</param>
/// <param name="TokenMask">(B, L) bool: true for real tokens.</param>
/// <param name="State">(B, state_dim) float32, normalized.</param>
public sealed record PolicyInput(Tensor Images, Tensor TokenIds, Tensor TokenMask, Tensor State)
{
    /// <summary>Number of observations.</summary>
    public long Size => Images.shape[0];
}
