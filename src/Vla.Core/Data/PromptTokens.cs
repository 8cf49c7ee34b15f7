namespace Vla.Data;

/// <summary>
/// A batch's instructions as token ids, right-padded to the longest: what the model reads. The loader's
/// workers make them with the encoder it was given (<see cref="LoaderOptions.EncodePrompts"/>), so no
/// forward pass tokenizes.
/// </summary>
/// <param name="Ids">(B, Length) token ids, row-major.</param>
/// <param name="Mask">(B, Length): true for real tokens, false for padding.</param>
/// <param name="Length">Tokens per row.</param>
public sealed record PromptTokens(long[] Ids, bool[] Mask, int Length);
