using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// PaliGemma: SigLIP tower → linear projector → Gemma decoder, computing what Hugging Face's
/// <c>PaliGemmaForConditionalGeneration</c> computes. The prefix (images + prompt) attends
/// bidirectionally; generated tokens attend causally and reuse the prefix through a <see cref="KvCache"/>.
/// </summary>
public sealed class PaliGemmaBackbone : nn.Module
{
    private readonly SiglipVisionTower vision_tower;
    private readonly Linear multi_modal_projector;
    private readonly GemmaDecoder language_model;

    /// <summary>The configuration the backbone was built from.</summary>
    public PaliGemmaConfig Config { get; }

    /// <summary>
    /// Builds the backbone with weights stored in <paramref name="dtype"/>, freshly initialized, or, without
    /// <paramref name="initialize"/>, the projections and the token embedding (all but 0.3 % of the weights) left as
    /// allocated because they are about to be loaded (<see cref="Weights.ModelWeights"/>): drawing PaliGemma-3B's 2.9 B random
    /// numbers only to overwrite them would take most of a load.
    /// </summary>
    public PaliGemmaBackbone(PaliGemmaConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(PaliGemmaBackbone))
    {
        Config = config;
        vision_tower = new SiglipVisionTower(config.Vision, dtype, initialize);
        multi_modal_projector = nn.Linear(config.Vision.HiddenSize, config.ProjectionDim, dtype: dtype);
        language_model = new GemmaDecoder(config.Text, dtype, initialize);
        RegisterComponents();
    }

    /// <summary>The Hugging Face folder the weights were loaded from (null for weights made here): LoRA checkpoints refer to it instead of copying it.</summary>
    public string? SourceFolder { get; set; }

    /// <summary>The <see cref="Weights.ModelWeights.ContentHash"/> of <see cref="SourceFolder"/> when it was loaded.</summary>
    public string? SourceHash { get; set; }

    /// <summary>When set, each SigLIP and Gemma layer's activations are recomputed during backward instead of kept (<c>training.gradient_checkpointing</c>).</summary>
    public ActivationCheckpointing? Checkpointing
    {
        get => language_model.Checkpointing;
        set => language_model.Checkpointing = vision_tower.Checkpointing = value;
    }

    /// <summary>The Gemma decoder.</summary>
    public GemmaDecoder LanguageModel => language_model;

    /// <summary>The SigLIP tower.</summary>
    public SiglipVisionTower VisionTower => vision_tower;

    /// <summary>Total number of parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Standard deviation of Hugging Face's PaliGemma initializer (<c>initializer_range</c>).</summary>
    public const double InitializerRange = 0.02;

    /// <summary>
    /// Re-initializes every weight as Hugging Face does for a model trained from scratch, seeded: linear,
    /// convolution and embedding weights ~ N(0, 0.02), biases 0, LayerNorm (1, 0), RMSNorm offsets 0.
    /// </summary>
    public void InitializeWeights(long seed)
    {
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed);
        foreach (var (name, p) in named_parameters())
        {
            bool isNorm = name.Contains("norm", StringComparison.Ordinal);
            if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else if (isNorm && name.Contains("vision_tower", StringComparison.Ordinal)) p.fill_(1);   // LayerNorm scale
            else if (isNorm) p.zero_();                                                               // RMSNorm stores w in (1 + w)
            else p.normal_(0, InitializerRange, generator);
        }
    }

    /// <summary>Stops gradients into the vision tower and/or the language model.</summary>
    public void Freeze(bool visionTower, bool languageModel)
    {
        foreach (var p in vision_tower.parameters()) p.requires_grad = !visionTower;
        foreach (var p in language_model.parameters()) p.requires_grad = !languageModel;
    }

    /// <summary>Image features (B, 3, H, W) → (B, N, D): the projector's output, before any scaling.</summary>
    public Tensor EmbedImages(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return multi_modal_projector.forward(vision_tower.forward(pixels)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Embeds images (B, cameras, 3, H, W) and token ids (B, L) with their padding mask (B, L) into the
    /// prefix layout <c>&lt;image&gt;×(N·cameras) + tokens</c>. The tokens start with BOS (see <see cref="Tokenization.PaliGemmaTokenizer"/>).
    /// </summary>
    public Prefix EmbedPrefix(Tensor images, Tensor tokenIds, Tensor tokenMask)
    {
        using var scope = NewDisposeScope();
        long b = images.shape[0], cameras = images.shape[1];
        var pixels = images.reshape(b * cameras, images.shape[2], images.shape[3], images.shape[4]);
        var features = EmbedImages(pixels);                                           // (B·cameras, N, D)
        features = features.reshape(b, cameras * features.shape[1], features.shape[2]); // (B, cameras·N, D)
        // Hugging Face divides image features by √D here; Gemma multiplies every input embedding by √D.
        features = features / tensor(Math.Sqrt(Config.Text.HiddenSize), features.dtype, features.device);
        var text = language_model.Embed(tokenIds).to_type(features.dtype);           // (B, L, D)
        var embeddings = cat([features, text], 1);                                    // (B, S, D)
        var mask = cat([ones(b, features.shape[1], ScalarType.Bool, images.device), tokenMask.to_type(ScalarType.Bool)], 1);
        var positions = arange(1, embeddings.shape[1] + 1, ScalarType.Int64, images.device).unsqueeze(0).expand(b, -1).contiguous();
        return new Prefix(embeddings.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), positions.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Runs the decoder over the prefix (bidirectional attention); returns the final hidden states (B, S, D).
    /// With a <paramref name="cache"/>, later tokens can continue from here without recomputing the prefix.
    /// </summary>
    public Tensor EncodePrefix(Prefix prefix, KvCache? cache = null, List<Tensor>? layerOutputs = null)
    {
        using var scope = NewDisposeScope();
        var mask = AttentionMasks.Prefix(prefix.Mask);
        return language_model.forward(prefix.Embeddings, prefix.Positions, mask, cache, layerOutputs).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Greedy decoding for one example: encodes the prefix once into a KV cache, then each new token costs
    /// one token's forward. Stops at EOS or after <paramref name="maxNewTokens"/>.
    /// </summary>
    public GenerationResult GenerateGreedy(Tensor images, long[] promptIds, int maxNewTokens)
    {
        using var guard = Runtime.NativeCallGuard.Enter();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = tensor(promptIds, [1, promptIds.Length], ScalarType.Int64, images.device);
        using var prefix = EmbedPrefix(images, ids, ones_like(ids, ScalarType.Bool));
        using var cache = new KvCache(Config.Text.NumHiddenLayers);
        var hidden = EncodePrefix(prefix, cache);
        var logits = language_model.Logits(hidden[.., ^1..]).to_type(ScalarType.Float32); // (1, 1, vocab)
        float[] firstLogits = logits.flatten().cpu().data<float>().ToArray();
        var generated = new List<long>();
        long position = prefix.Positions.shape[1];
        for (int step = 0; step < maxNewTokens; step++)
        {
            long next = logits.argmax(-1).item<long>();
            generated.Add(next);
            if (next == Config.EosTokenId) break;
            using var stepScope = NewDisposeScope();
            var embedding = language_model.Embed(tensor(new[] { next }, [1, 1], ScalarType.Int64, images.device)).to_type(prefix.Embeddings.dtype);
            var positions = tensor(new[] { ++position }, [1, 1], ScalarType.Int64, images.device);
            // The cache holds the prefix (with its padding) and every generated token so far.
            var cachedMask = cat([prefix.Mask, ones(1, cache.Length - prefix.Mask.shape[1], ScalarType.Bool, images.device)], 1);
            var mask = AttentionMasks.Suffix(cachedMask, 1);
            var stepHidden = language_model.forward(embedding, positions, mask, cache);
            logits.Dispose();
            logits = language_model.Logits(stepHidden).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        return new GenerationResult(promptIds, [.. generated], firstLogits);
    }
}

/// <summary>The result of greedy generation.</summary>
/// <param name="PromptIds">The token ids after the image tokens (BOS + prompt + "\n").</param>
/// <param name="TokenIds">Generated ids, EOS included when reached.</param>
/// <param name="FirstStepLogits">The full vocabulary logits for the first generated token.</param>
public sealed record GenerationResult(long[] PromptIds, long[] TokenIds, float[] FirstStepLogits);
