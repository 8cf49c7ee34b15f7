using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// What a policy reads, on its device and tokenized (openpi's model-side <c>Observation</c>): the current frame of every
/// camera, the prompt's token ids with their padding mask, and the normalized state. Made by the policy's
/// <see cref="PolicyTransform"/>; whoever made it disposes its tensors.
/// </summary>
/// <param name="Images">(B, cameras, 3, H, W) float32 in [-1, 1].</param>
/// <param name="TokenIds">(B, L) int64, right-padded (what the tokens say is the transform's: today's BOS + prompt + "\n").</param>
/// <param name="TokenMask">(B, L) bool: true for real tokens.</param>
/// <param name="State">(B, state_dim) float32, normalized.</param>
public sealed record PolicyInput(Tensor Images, Tensor TokenIds, Tensor TokenMask, Tensor State)
{
    /// <summary>(B, cameras) bool: false where an observation lacks that camera (null: every camera is there).</summary>
    public Tensor? ImageMask { get; init; }

    /// <summary>Number of observations.</summary>
    public long Size => Images.shape[0];

    /// <summary>The tensors, by name (placement checks, disposal).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> Tensors =>
        [("images", Images), ("token_ids", TokenIds), ("token_mask", TokenMask), ("state", State), .. ImageMask is null ? [] : new[] { ("image_mask", ImageMask) }];
}
