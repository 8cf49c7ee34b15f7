using Vla.Model.Tokenization;

namespace Vla.Model;

/// <summary>
/// A batch's inputs as host arrays, before they become a <see cref="PolicyInput"/>: images already preprocessed to the
/// policy's size, states already normalized, prompts already tokenized by the policy's transform. The loader's workers
/// and the predictor fill them; the arrays are wrapped, not copied.
/// </summary>
/// <param name="Count">Observations in the batch.</param>
/// <param name="Cameras">Cameras per observation.</param>
/// <param name="ImageSize">Side of the square images.</param>
/// <param name="StateDim">Values per state.</param>
/// <param name="Images">(Count, cameras, 3, size, size) in [-1, 1], row-major.</param>
/// <param name="States">(Count, state_dim), normalized.</param>
/// <param name="Tokens">The prompts' token ids and padding mask.</param>
public sealed record PolicyArrays(int Count, int Cameras, int ImageSize, int StateDim, float[] Images, float[] States, TokenBatch Tokens)
{
    /// <summary>(Count, cameras): false for a camera the observation lacks (its image is to be masked out), or null when all are there.</summary>
    public bool[]? ImageMask { get; init; }
}
