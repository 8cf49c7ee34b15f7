using TorchSharp;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// Builds the policy of a run from its config: the backbone and tokenizer from
/// <c>model.vlm_config.model_name_or_path</c> (and <c>data.tokenizer_name_or_path</c> when set), the backbone
/// in <c>model.vlm_config.dtype</c>, the head seeded, everything on the run's device. Beside
/// <see cref="Checkpoint.Load"/>, the other way a model comes to be.
/// </summary>
public static class ModelFactory
{
    private static readonly Lock InitGate = new();

    /// <summary>A new model for training and its tokenizer.</summary>
    public static (VlaModel Model, PaliGemmaTokenizer Tokenizer) Create(VlaConfig config, long seed, Device? device = null)
    {
        string modelDir = PathResolver.ResolveExisting(config.Model.VlmConfig.ModelNameOrPath, config.BaseDirectory)
            ?? throw new BadInputException($"model.vlm_config.model_name_or_path: folder '{config.Model.VlmConfig.ModelNameOrPath}' does not exist.");
        string tokenizerDir = string.IsNullOrEmpty(config.Data.TokenizerNameOrPath) ? modelDir
            : PathResolver.ResolveExisting(config.Data.TokenizerNameOrPath, config.BaseDirectory)
              ?? throw new BadInputException($"data.tokenizer_name_or_path: '{config.Data.TokenizerNameOrPath}' does not exist.");
        var backbone = ModelWeights.LoadBackbone(modelDir, ModelDtype.Parse(config.Model.VlmConfig.Dtype));
        VlaModel.CheckFits(config, backbone.Config);
        var tokenizer = PaliGemmaTokenizer.Load(tokenizerDir);
        return (OnDevice(Seeded(config, backbone, seed), device), tokenizer);
    }

    /// <summary>
    /// Builds a model around <paramref name="backbone"/>, the head seeded. TorchSharp's layers initialize from the
    /// process-wide generator: this holds it while seeding and building, so two models built at once (tests,
    /// notebooks) cannot interleave their draws.
    /// </summary>
    public static VlaModel Seeded(VlaConfig config, PaliGemmaBackbone backbone, long seed)
    {
        lock (InitGate)
        {
            manual_seed(seed);
            var model = new VlaModel(config, backbone);
            OpenMpTeam.Release(); // building is done on this thread; it may be another one that computes (OpenMpTeam says why)
            return model;
        }
    }

    /// <summary>
    /// A model with no weights to load (benchmarks, the device self-check): the backbone initialized as Hugging Face
    /// does from <paramref name="seed"/> and stored in <c>model.vlm_config.dtype</c>, the head seeded with it too.
    /// </summary>
    public static VlaModel Random(VlaConfig config, PaliGemmaConfig backbone, long seed)
    {
        var backboneModel = new PaliGemmaBackbone(backbone);
        backboneModel.InitializeWeights(seed);
        backboneModel.to(ModelDtype.Parse(config.Model.VlmConfig.Dtype));
        return Seeded(config, backboneModel, seed);
    }

    /// <summary>The loader's prompt encoder for <paramref name="tokenizer"/>: token ids right-padded to the batch's longest, cut at <paramref name="maxLength"/>.</summary>
    public static Func<IReadOnlyList<string>, PromptTokens> PromptEncoder(PaliGemmaTokenizer tokenizer, int maxLength) => prompts =>
    {
        var tokens = tokenizer.EncodeBatch(prompts, maxLength);
        return new PromptTokens(tokens.Ids, tokens.Mask, tokens.Length);
    };

    /// <summary>Moves <paramref name="model"/> to <paramref name="device"/> (dtypes unchanged); the CPU leaves it as it is.</summary>
    public static VlaModel OnDevice(VlaModel model, Device? device)
    {
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }
}
