using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Runtime;

namespace Vla.Model;

/// <summary>
/// The whole PaliGemma backbone: SigLIP tower, projector and Gemma decoder, read from a Hugging Face
/// <c>config.json</c> with Hugging Face's defaults for every missing key (the real
/// <c>google/paligemma-3b-pt-224</c> file omits most of them).
/// </summary>
public sealed record PaliGemmaConfig
{
    /// <summary>The vision tower.</summary>
    public SiglipConfig Vision { get; init; } = new();
    /// <summary>The language model.</summary>
    public GemmaConfig Text { get; init; } = new();
    /// <summary>Id of the <c>&lt;image&gt;</c> placeholder token (HF default 256000; PaliGemma-3B 257152).</summary>
    public int ImageTokenIndex { get; init; } = 256000;
    /// <summary>Projector output width; equals the text width.</summary>
    public int ProjectionDim { get; init; } = 2048;
    /// <summary>Beginning-of-sequence token.</summary>
    public int BosTokenId { get; init; } = 2;
    /// <summary>End-of-sequence token.</summary>
    public int EosTokenId { get; init; } = 1;
    /// <summary>Padding token.</summary>
    public int PadTokenId { get; init; }

    /// <summary>Image tokens per camera image.</summary>
    public int NumImageTokens => Vision.NumPatches;

    /// <summary>
    /// Parameters of the backbone this config builds, counted from the layer shapes without building it
    /// (PaliGemma-3B: 2,923,335,408). The tied output projection is not counted twice.
    /// </summary>
    public long ParameterCount
    {
        get
        {
            long v = Vision.HiddenSize, vi = Vision.IntermediateSize;
            long patch = Vision.NumChannels * Vision.PatchSize * Vision.PatchSize * v + v;
            long visionLayer = 4 * (v * v + v) + 2 * (2 * v) + (v * vi + vi) + (vi * v + v);
            long vision = patch + Vision.NumPatches * v + Vision.NumHiddenLayers * visionLayer + 2 * v;
            long projector = v * ProjectionDim + ProjectionDim;
            long t = Text.HiddenSize, ti = Text.IntermediateSize, hd = Text.HeadDim;
            long attention = t * Text.NumAttentionHeads * hd * 2 + t * Text.NumKeyValueHeads * hd * 2;
            long textLayer = attention + 3 * t * ti + 2 * t;
            long text = (long)Text.VocabSize * t + Text.NumHiddenLayers * textLayer + t;
            return vision + projector + text;
        }
    }

    /// <summary>PaliGemma-3B at 224 px (<c>google/paligemma-3b-pt-224</c>): about 2.92 B parameters.</summary>
    public static PaliGemmaConfig Pt224() => new()
    {
        Vision = new SiglipConfig { HiddenSize = 1152, IntermediateSize = 4304, NumHiddenLayers = 27, NumAttentionHeads = 16, ImageSize = 224, PatchSize = 14 },
        Text = new GemmaConfig { VocabSize = 257216, HiddenSize = 2048, IntermediateSize = 16384, NumHiddenLayers = 18, NumAttentionHeads = 8, NumKeyValueHeads = 1, HeadDim = 256 },
        ImageTokenIndex = 257152,
        ProjectionDim = 2048,
    };

    /// <summary>
    /// A tiny backbone with PaliGemma's structure (multi-query attention, head_dim ≠ hidden/heads) for
    /// tests and the sample configuration: 64 px images in 8 px patches.
    /// </summary>
    public static PaliGemmaConfig Tiny(int vocabSize = 512, int imageTokenIndex = 511) => new()
    {
        Vision = new SiglipConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, ImageSize = 64, PatchSize = 8 },
        Text = new GemmaConfig { VocabSize = vocabSize, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 24 },
        ImageTokenIndex = imageTokenIndex,
        ProjectionDim = 64,
    };

    /// <summary>
    /// The sample model in <c>data-samples/tiny-paligemma</c>: 64 px images in 8 px patches (64 tokens per
    /// camera), a 300-piece SentencePiece vocabulary with <c>&lt;image&gt;</c> at 300, about 0.4 M parameters.
    /// </summary>
    public static PaliGemmaConfig Sample() => new()
    {
        Vision = new SiglipConfig { HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, ImageSize = 64, PatchSize = 8 },
        Text = new GemmaConfig { VocabSize = 304, HiddenSize = 128, IntermediateSize = 256, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 32 },
        ImageTokenIndex = 300,
        ProjectionDim = 128,
    };

    /// <summary>Reads a Hugging Face <c>config.json</c>.</summary>
    public static PaliGemmaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path} does not exist; a model folder needs a config.json.");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new BadInputException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{path}: not valid JSON ({e.Message.TrimEnd('.')}).", e);
        }
        catch (InvalidOperationException e)
        {
            throw new BadInputException($"{path}: the top level must be a JSON object.", e);
        }
        try
        {
            return FromJson(root);
        }
        catch (BadInputException e)
        {
            throw new BadInputException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Builds the config from a parsed <c>config.json</c> object.</summary>
    public static PaliGemmaConfig FromJson(JsonObject root)
    {
        var c = new PaliGemmaConfig();
        var config = c with
        {
            Vision = SiglipConfig.FromJson(root["vision_config"] as JsonObject),
            Text = GemmaConfig.FromJson(root["text_config"] as JsonObject),
            ImageTokenIndex = ConfigJsonKeys.Int(root, "image_token_index", ConfigJsonKeys.Int(root, "image_token_id", c.ImageTokenIndex)),
            ProjectionDim = ConfigJsonKeys.Int(root, "projection_dim", c.ProjectionDim),
            BosTokenId = ConfigJsonKeys.Int(root, "bos_token_id", c.BosTokenId),
            EosTokenId = ConfigJsonKeys.Int(root, "eos_token_id", c.EosTokenId),
            PadTokenId = ConfigJsonKeys.Int(root, "pad_token_id", c.PadTokenId),
        };
        if (config.ProjectionDim != config.Text.HiddenSize)
            throw new BadInputException($"projection_dim ({config.ProjectionDim}) must equal text_config.hidden_size ({config.Text.HiddenSize}).");
        if (config.Text.NumAttentionHeads % config.Text.NumKeyValueHeads != 0)
            throw new BadInputException($"text_config.num_attention_heads ({config.Text.NumAttentionHeads}) must be a multiple of num_key_value_heads ({config.Text.NumKeyValueHeads}).");
        if (config.ImageTokenIndex >= config.Text.VocabSize)
            throw new BadInputException($"image_token_index ({config.ImageTokenIndex}) is outside the vocabulary of {config.Text.VocabSize}.");
        return config;
    }

    /// <summary>Writes the keys this reader understands in Hugging Face's layout.</summary>
    public string ToJson() => new JsonObject
    {
        ["model_type"] = "paligemma",
        ["architectures"] = new JsonArray("PaliGemmaForConditionalGeneration"),
        ["image_token_index"] = ImageTokenIndex,
        ["projection_dim"] = ProjectionDim,
        ["hidden_size"] = Text.HiddenSize,
        ["bos_token_id"] = BosTokenId,
        ["eos_token_id"] = EosTokenId,
        ["pad_token_id"] = PadTokenId,
        ["vision_config"] = new JsonObject
        {
            ["model_type"] = "siglip_vision_model",
            ["hidden_size"] = Vision.HiddenSize, ["intermediate_size"] = Vision.IntermediateSize,
            ["num_hidden_layers"] = Vision.NumHiddenLayers, ["num_attention_heads"] = Vision.NumAttentionHeads,
            ["num_channels"] = Vision.NumChannels, ["image_size"] = Vision.ImageSize, ["patch_size"] = Vision.PatchSize,
            ["layer_norm_eps"] = Vision.LayerNormEps, ["projection_dim"] = ProjectionDim,
        },
        ["text_config"] = new JsonObject
        {
            ["model_type"] = "gemma",
            ["vocab_size"] = Text.VocabSize, ["hidden_size"] = Text.HiddenSize, ["intermediate_size"] = Text.IntermediateSize,
            ["num_hidden_layers"] = Text.NumHiddenLayers, ["num_attention_heads"] = Text.NumAttentionHeads,
            ["num_key_value_heads"] = Text.NumKeyValueHeads, ["head_dim"] = Text.HeadDim,
            ["rms_norm_eps"] = Text.RmsNormEps, ["rope_theta"] = Text.RopeTheta,
            ["hidden_activation"] = "gelu_pytorch_tanh",
        },
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
