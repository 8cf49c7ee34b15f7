using Vla.Model.Tokenization;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// The input transform of <see cref="VlaModel"/>: each prompt becomes BOS + its SentencePiece ids + "\n" (the PaliGemma
/// processor's layout after the image tokens), cut at <c>data.prompt_max_len</c> and right-padded to the batch's longest.
/// The state stays a separate input (the head's state token), so it does not enter the prompt.
/// </summary>
public sealed class PaliGemmaFlowTransform(PaliGemmaTokenizer tokenizer, int promptMaxLength) : PolicyTransform
{
    /// <summary>The tokenizer.</summary>
    public PaliGemmaTokenizer Tokenizer { get; } = tokenizer;

    /// <inheritdoc/>
    public override int PromptMaxLength { get; } = promptMaxLength;

    /// <inheritdoc/>
    public override TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates) =>
        Tokenizer.EncodeBatch(prompts, PromptMaxLength);

    /// <inheritdoc/>
    public override int TokenCount(string prompt) => Tokenizer.EncodePrompt(prompt, int.MaxValue, out _).Length;
}
