using System.Globalization;
using Vla.Model.Tokenization;

namespace Vla.Model.Pi0;

/// <summary>
/// pi0's input transform (LeRobot's <c>Pi0NewLineProcessor</c> and tokenizer step): the task with a "\n" appended unless it
/// ends with one, as it is otherwise (LeRobot does not clean it), BOS first, at most <c>tokenizer_max_length</c> tokens.
/// </summary>
public sealed class Pi0Transform(PaliGemmaTokenizer tokenizer, int maxLength) : PolicyTransform
{
    /// <summary>The tokenizer.</summary>
    public PaliGemmaTokenizer Tokenizer { get; } = tokenizer;

    /// <inheritdoc/>
    public override int PromptMaxLength { get; } = maxLength;

    /// <summary>The text pi0 tokenizes for <paramref name="task"/>.</summary>
    public static string Prompt(string task) => task.EndsWith('\n') ? task : task + "\n";

    /// <inheritdoc/>
    public override TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates) =>
        Tokenizer.EncodeTexts(prompts.Select(Prompt).ToList(), PromptMaxLength);

    /// <inheritdoc/>
    public override int TokenCount(string prompt) => Tokenizer.EncodeText(Prompt(prompt), int.MaxValue, out _).Length;
}

/// <summary>
/// pi0.5's input transform (LeRobot's <c>Pi05PrepareStateTokenizerProcessorStep</c>, as openpi's tokenizer): the normalized
/// state, each value in one of 256 bins over [-1, 1], written into the prompt,
/// <c>"Task: {task}, State: {bins};\nAction: "</c>, the task stripped, with "_" and "\n" as spaces.
/// </summary>
public sealed class Pi05Transform(PaliGemmaTokenizer tokenizer, int maxLength) : PolicyTransform
{
    /// <summary>Bins of the state over [-1, 1].</summary>
    public const int StateBins = 256;

    /// <summary>The tokenizer.</summary>
    public PaliGemmaTokenizer Tokenizer { get; } = tokenizer;

    /// <inheritdoc/>
    public override int PromptMaxLength { get; } = maxLength;

    /// <summary>
    /// The bin of a normalized value, as <c>np.digitize(x, np.linspace(-1, 1, 257)[:-1]) - 1</c>: k where
    /// −1 + k/128 ≤ x &lt; −1 + (k + 1)/128, 255 from the last edge up, −1 below −1 (exact: x·128 is exact in double).
    /// </summary>
    public static int Bin(float value)
    {
        if (float.IsNaN(value)) throw new ArgumentException("A NaN state value has no bin.", nameof(value));
        return (int)Math.Clamp(Math.Floor(value * (double)(StateBins / 2)) + StateBins / 2, -1, StateBins - 1);
    }

    /// <summary>The text pi0.5 tokenizes for <paramref name="task"/> and its normalized <paramref name="state"/>.</summary>
    public static string Prompt(string task, ReadOnlySpan<float> state)
    {
        string cleaned = task.Trim().Replace('_', ' ').Replace('\n', ' ');
        var bins = new string[state.Length];
        for (int i = 0; i < state.Length; i++) bins[i] = Bin(state[i]).ToString(CultureInfo.InvariantCulture);
        return $"Task: {cleaned}, State: {string.Join(' ', bins)};\nAction: ";
    }

    /// <inheritdoc/>
    public override TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates)
    {
        int dim = prompts.Count == 0 ? 0 : normalizedStates.Length / prompts.Count;
        var texts = new string[prompts.Count];
        for (int i = 0; i < prompts.Count; i++) texts[i] = Prompt(prompts[i], normalizedStates.Slice(i * dim, dim));
        return Tokenizer.EncodeTexts(texts, PromptMaxLength);
    }

    /// <inheritdoc/>
    /// <remarks>Counted without the state's values, which add a token or two each.</remarks>
    public override int TokenCount(string prompt) => Tokenizer.EncodeText(Prompt(prompt, []), int.MaxValue, out _).Length;
}
