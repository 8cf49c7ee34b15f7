namespace Vla.Model.Tokenization;

/// <summary>Prompts tokenized for the backbone, right-padded to one length.</summary>
/// <param name="Ids">(B, L) token ids, row-major; padding is PAD (0).</param>
/// <param name="Mask">(B, L): true for real tokens.</param>
/// <param name="Batch">B.</param>
/// <param name="Length">L.</param>
/// <param name="Truncated">How many prompts were cut to <c>prompt_max_len</c>.</param>
public sealed record TokenBatch(long[] Ids, bool[] Mask, int Batch, int Length, int Truncated);
