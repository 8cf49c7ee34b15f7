using TorchSharp;
using Vla.Config;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// Where policies come from: <see cref="FromConfig"/> builds a new one from a run config (the backbone and tokenizer from
/// <c>model.vlm_config.model_name_or_path</c> and <c>data.tokenizer_name_or_path</c>, the backbone in
/// <c>model.vlm_config.dtype</c>, the head seeded), <see cref="FromCheckpoint"/> reads a checkpoint folder back; both on the
/// device asked for.
/// </summary>
public static class ModelFactory
{
    private static readonly Lock InitGate = new();

    /// <summary>A new policy for training, as <paramref name="config"/> describes it, its new weights drawn from <paramref name="seed"/>.</summary>
    public static ITrainablePolicy FromConfig(VlaConfig config, long seed, Device? device = null)
    {
        if (Pi0Factory.Trains(config)) return Pi0Factory.FromConfig(config, seed, device);
        string modelDir = PathResolver.ResolveExisting(config.Model.VlmConfig.ModelNameOrPath, config.BaseDirectory)
            ?? throw new BadInputException($"model.vlm_config.model_name_or_path: folder '{config.Model.VlmConfig.ModelNameOrPath}' does not exist.");
        string tokenizerDir = string.IsNullOrEmpty(config.Data.TokenizerNameOrPath) ? modelDir
            : PathResolver.ResolveExisting(config.Data.TokenizerNameOrPath, config.BaseDirectory)
              ?? throw new BadInputException($"data.tokenizer_name_or_path: '{config.Data.TokenizerNameOrPath}' does not exist.");
        var modelConfig = VlaModelConfig.From(config);
        var backbone = ModelWeights.LoadBackbone(modelDir, ModelDtype.Parse(config.Model.VlmConfig.Dtype));
        modelConfig.CheckFits(backbone.Config);
        var model = Seeded(modelConfig, backbone, PaliGemmaTokenizer.Load(tokenizerDir), seed);
        model.GradientCheckpointing = config.Training.GradientCheckpointing;
        return OnDevice(model, device);
    }

    /// <summary>
    /// Reads the checkpoint in <paramref name="directory"/> onto <paramref name="device"/> (the CPU when null; a checkpoint saved
    /// on any device loads on any other), the backbone in <paramref name="dtype"/> (the checkpoint's own when null), naming any
    /// missing or damaged file.
    /// </summary>
    public static Checkpoint.Loaded FromCheckpoint(string directory, Device? device = null, ScalarType? dtype = null)
    {
        TorchRuntime.EnsureReady();
        var (state, config) = Checkpoint.ReadState(directory, []);
        if (Pi0Factory.Trains(config))
        {
            if (dtype is { } asked) config = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { Dtype = ModelDtype.Name(asked) } } };
            Checkpoint.RequireFiles(directory, Pi0CheckpointFiles.Required);
            var pi0 = new Checkpoint.Loaded(Pi0Factory.FromCheckpoint(directory, config, device), state, config, directory);
            OpenMpTeam.Release();
            return pi0;
        }
        Checkpoint.RequireFiles(directory, VlaModelFolder.Required);
        var backboneDtype = dtype ?? ModelDtype.Parse(config.Model.VlmConfig.Dtype, $"{directory}: model.vlm_config.dtype");
        config = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { Dtype = ModelDtype.Name(backboneDtype) } } };
        var model = VlaModelFolder.Load(directory, VlaModelConfig.From(config));
        var loaded = new Checkpoint.Loaded(OnDevice(model, device), state, config, directory);
        OpenMpTeam.Release(); // loading is done on this thread; it may be another one that computes (OpenMpTeam says why)
        return loaded;
    }

    /// <summary>
    /// Builds a model around <paramref name="backbone"/>, the head seeded. TorchSharp's layers initialize from the
    /// process-wide generator: this holds it while seeding and building, so two models built at once (tests,
    /// notebooks) cannot interleave their draws.
    /// </summary>
    public static VlaModel Seeded(VlaModelConfig config, PaliGemmaBackbone backbone, PaliGemmaTokenizer tokenizer, long seed)
    {
        VlaModel? model = null;
        Seeding(seed, () => model = new VlaModel(config, backbone, tokenizer));
        return model!;
    }

    /// <summary>Runs <paramref name="draw"/> holding the process-wide generator, seeded with <paramref name="seed"/> (<see cref="Seeded"/> says why).</summary>
    public static void Seeding(long seed, Action draw)
    {
        lock (InitGate)
        {
            manual_seed(seed);
            draw();
            OpenMpTeam.Release(); // building is done on this thread; it may be another one that computes (OpenMpTeam says why)
        }
    }

    /// <summary>
    /// A model with no weights to load (benchmarks, the device self-check): the backbone initialized as Hugging Face
    /// does from <paramref name="seed"/> and stored in <c>model.vlm_config.dtype</c>, the head seeded with it too, the
    /// sample tokenizer unless another is given; layers recomputed in backward as <c>training.gradient_checkpointing</c> says.
    /// </summary>
    public static VlaModel Random(VlaConfig config, PaliGemmaConfig backbone, long seed, PaliGemmaTokenizer? tokenizer = null)
    {
        var backboneModel = new PaliGemmaBackbone(backbone);
        backboneModel.InitializeWeights(seed);
        backboneModel.to(ModelDtype.Parse(config.Model.VlmConfig.Dtype));
        var model = Seeded(VlaModelConfig.From(config), backboneModel, tokenizer ?? PaliGemmaTokenizer.Sample(), seed);
        model.GradientCheckpointing = config.Training.GradientCheckpointing;
        return model;
    }

    /// <summary>Moves <paramref name="policy"/> to <paramref name="device"/> (dtypes unchanged); the CPU leaves it as it is.</summary>
    public static T OnDevice<T>(T policy, Device? device) where T : ITrainablePolicy
    {
        if (device is not null && device.type != DeviceType.CPU) policy.Module.to(device);
        return policy;
    }
}
