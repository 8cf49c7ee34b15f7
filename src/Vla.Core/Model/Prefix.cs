using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The embedded prefix of a PaliGemma input: image tokens of every camera, then BOS + prompt + "\n".
/// Owns its tensors.
/// </summary>
/// <param name="Embeddings">(B, S, D) input embeddings before Gemma's √D scaling (image features already divided by √D, as Hugging Face does).</param>
/// <param name="Mask">(B, S) bool: false at padding.</param>
/// <param name="Positions">(B, S) int64 position ids, starting at 1 as PaliGemma's.</param>
public sealed record Prefix(Tensor Embeddings, Tensor Mask, Tensor Positions) : IDisposable
{
    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Embeddings.Dispose();
        Mask.Dispose();
        Positions.Dispose();
    }
}
