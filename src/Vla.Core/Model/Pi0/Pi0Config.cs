namespace Vla.Model.Pi0;

/// <summary>
/// The shape of a pi0 or pi0.5 policy (LeRobot's <c>PI0Config</c> / <c>PI05Config</c>): PaliGemma, the action expert and
/// the action chunk. <see cref="Released"/> is the released models' shape.
/// </summary>
public sealed record Pi0Config
{
    /// <summary>The vision-language model (SigLIP So400m/14 at 224 px and Gemma 2B in the released models).</summary>
    public required PaliGemmaConfig PaliGemma { get; init; }
    /// <summary>The action expert (Gemma 300M: width 1024, MLP 4096, 18 layers, 8 heads of 256, 1 key/value head).</summary>
    public required GemmaConfig Expert { get; init; }
    /// <summary>Action steps in a chunk (<c>chunk_size</c>).</summary>
    public int ChunkSize { get; init; } = 50;
    /// <summary>State values the model reads, the robot's padded with zeros (<c>max_state_dim</c>).</summary>
    public int MaxStateDim { get; init; } = 32;
    /// <summary>Action values the model predicts, the robot's padded with zeros (<c>max_action_dim</c>).</summary>
    public int MaxActionDim { get; init; } = 32;
    /// <summary>Euler steps of a chunk (<c>num_inference_steps</c>).</summary>
    public int NumInferenceSteps { get; init; } = 10;
    /// <summary>Prompt tokens, padded or cut to this (<c>tokenizer_max_length</c>: 48 for pi0, 200 for pi0.5).</summary>
    public int TokenizerMaxLength { get; init; } = 48;
    /// <summary>Shortest period of the sine-cosine time embedding (<c>min_period</c>).</summary>
    public double MinPeriod { get; init; } = 4e-3;
    /// <summary>Longest period of the sine-cosine time embedding (<c>max_period</c>).</summary>
    public double MaxPeriod { get; init; } = 4.0;

    /// <summary>
    /// The released shape: PaliGemma-224 with a 257,152-token vocabulary (not <see cref="PaliGemmaConfig.Pt224"/>'s 257,216)
    /// and the Gemma-300M expert.
    /// </summary>
    public static Pi0Config Released(int tokenizerMaxLength) => new()
    {
        PaliGemma = PaliGemmaConfig.Pt224() with { Text = PaliGemmaConfig.Pt224().Text with { VocabSize = 257152 } },
        Expert = new GemmaConfig { VocabSize = 0, HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 18, NumAttentionHeads = 8, NumKeyValueHeads = 1, HeadDim = 256 },
        TokenizerMaxLength = tokenizerMaxLength,
    };
}
