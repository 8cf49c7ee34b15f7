using System.Reflection;
using TorchSharp;
using Vla.Config;
using Vla.Model;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// A checkpoint folder: weights (plain safetensors), optimizer state, trainer state with the config
/// snapshot and normalization stats, the backbone's config and the tokenizer, so inference needs
/// nothing but this folder, or, when base weights stayed frozen (LoRA, <c>freeze_*</c>), this folder and the base model it
/// names. Written aside and published atomically.
/// </summary>
public static class Checkpoint
{
    /// <summary>A checkpoint read back.</summary>
    public sealed record Loaded(VlaModel Model, PaliGemmaTokenizer Tokenizer, TrainerState State, VlaConfig Config, string Directory);

    /// <summary>
    /// Writes the checkpoint to <paramref name="directory"/>, replacing any previous one there atomically. The
    /// weights are written in their dtypes (a bfloat16 backbone as BF16); <paramref name="saveTrainingState"/>
    /// writes the optimizer's files into the folder being assembled. When backbone weights loaded from a folder stay
    /// frozen (LoRA, <c>freeze_*</c>), they are not copied: the checkpoint holds what trains (LoRA adapters in
    /// <c>adapter_model.safetensors</c>) and a verified reference to the base (<see cref="BaseModelReference"/>).
    /// A backbone that trains whole, like the sample's, is saved in full.
    /// </summary>
    public static void Save(string directory, VlaModel model, PaliGemmaTokenizer tokenizer, Action<string>? saveTrainingState, TrainerState state)
    {
        var frozen = model.named_parameters()
            .Where(p => p.name.StartsWith(BackbonePrefix, StringComparison.Ordinal) && !p.parameter.requires_grad)
            .Select(p => p.name).ToHashSet();
        string? baseFolder = frozen.Count > 0 ? model.Backbone.SourceFolder : null;
        // The base as it was loaded, not as the folder is now: the weights trained against it are what this refers to.
        var reference = baseFolder is null ? null
            : new BaseModelReference { Path = baseFolder, ContentSha256 = model.Backbone.SourceHash ?? ModelWeights.ContentHash(baseFolder) };
        Write(directory, staging =>
        {
            WriteFiles(staging, model, tokenizer, state, reference,
                name => baseFolder is null || !frozen.Contains(name));
            saveTrainingState?.Invoke(staging);
        });
    }

    /// <summary>
    /// Writes a self-contained copy of <paramref name="checkpoint"/> for inference into <paramref name="directory"/>: the base
    /// model in Hugging Face layout under <c>paligemma/</c> (with the adapters folded in when <paramref name="mergeLora"/>),
    /// the adapters in PEFT's files when not merged, the head, the config, statistics and tokenizer. No optimizer state.
    /// </summary>
    public static void Export(Loaded checkpoint, string directory, bool mergeLora)
    {
        var model = checkpoint.Model;
        var config = checkpoint.Config;
        if (mergeLora && config.Model.Lora.Enabled)
        {
            LoraAdapters.Merge(model.Backbone);
            config = config with { Model = config.Model with { Lora = config.Model.Lora with { Rank = 0 } } };
        }
        var state = checkpoint.State with { ConfigYaml = ConfigWriter.ToYaml(config with { BaseDirectory = null }) };
        Write(directory, staging =>
        {
            string baseDir = Path.Combine(staging, CheckpointFiles.ExportedBase);
            ModelWeights.SaveBackbone(model.Backbone, baseDir);
            File.Copy(checkpoint.Tokenizer.SourcePath, Path.Combine(baseDir, CheckpointFiles.Tokenizer));
            WriteFiles(staging, model, checkpoint.Tokenizer, state, BaseModelReference.To(baseDir, CheckpointFiles.ExportedBase),
                name => !name.StartsWith(BackbonePrefix, StringComparison.Ordinal), config.Model.Lora);
        });
    }

    /// <summary>Assembles a folder next to <paramref name="directory"/> and publishes it atomically; nothing half-written is left on failure.</summary>
    private static void Write(string directory, Action<string> fill)
    {
        string target = Path.GetFullPath(directory);
        string staging = $"{target}.tmp-{Environment.ProcessId}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
            fill(staging);
            AtomicDirectory.Publish(staging, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or VlaException { InnerException: IOException })
        {
            throw new VlaException($"The checkpoint {target} could not be written ({e.Message.TrimEnd('.')}); any earlier checkpoint there is untouched.", e);
        }
        finally
        {
            try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Writes the checkpoint's files; <c>model.safetensors</c> takes the non-adapter parameters <paramref name="inModelFile"/> accepts.</summary>
    private static void WriteFiles(string staging, VlaModel model, PaliGemmaTokenizer tokenizer, TrainerState state, BaseModelReference? reference,
        Func<string, bool> inModelFile, LoraConfig? lora = null)
    {
        lora ??= model.Config.Model.Lora;
        SafetensorsFile.Write(Path.Combine(staging, CheckpointFiles.Model),
            model.named_parameters().Where(p => !LoraAdapters.IsAdapter(p.name) && inModelFile(p.name)).Select(p => (p.name, (Tensor)p.parameter)),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "vla" });
        if (lora.Enabled) LoraAdapters.Save(model.Backbone, lora, reference?.Path ?? model.Backbone.SourceFolder ?? "", staging);
        reference?.Write(staging);
        var stamped = state with { Versions = Versions() };
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.TrainerState), stamped.ToJson());
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.ConfigYaml), state.ConfigYaml);
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.Stats), state.NormalizationStats.ToJson());
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.BackboneConfig), model.Backbone.Config.ToJson());
        File.Copy(tokenizer.SourcePath, Path.Combine(staging, CheckpointFiles.Tokenizer));
    }

    private const string BackbonePrefix = "backbone.";

    /// <summary>
    /// Reads a checkpoint folder into a model on <paramref name="device"/> (the CPU when null; a checkpoint saved
    /// on any device loads on any other), with the backbone in <paramref name="dtype"/> (the checkpoint's
    /// <c>model.vlm_config.dtype</c> when null), naming any missing or damaged file.
    /// </summary>
    public static Loaded Load(string directory, Device? device = null, ScalarType? dtype = null)
    {
        TorchRuntime.EnsureReady();
        if (!Directory.Exists(directory)) throw new BadInputException($"Checkpoint folder {directory} does not exist.");
        foreach (var file in new[] { CheckpointFiles.Model, CheckpointFiles.TrainerState, CheckpointFiles.BackboneConfig, CheckpointFiles.Tokenizer })
            if (!File.Exists(Path.Combine(directory, file)))
                throw new BadInputException($"{Path.Combine(directory, file)} is missing: {directory} is not a complete checkpoint.");
        var state = TrainerState.Load(Path.Combine(directory, CheckpointFiles.TrainerState));
        var config = ConfigLoader.Parse(state.ConfigYaml, Path.Combine(directory, CheckpointFiles.TrainerState) + " (config_yaml)");
        var backboneDtype = dtype ?? ModelDtype.Parse(config.Model.VlmConfig.Dtype, $"{directory}: model.vlm_config.dtype");
        config = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { Dtype = ModelDtype.Name(backboneDtype) } } };
        var backboneConfig = PaliGemmaConfig.Load(Path.Combine(directory, CheckpointFiles.BackboneConfig));
        VlaModel.CheckFits(config, backboneConfig);
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(directory, CheckpointFiles.Tokenizer));
        var backbone = new PaliGemmaBackbone(backboneConfig, backboneDtype, initialize: false); // every weight is loaded below
        var reference = BaseModelReference.Read(directory);
        if (reference is not null)
        {
            string baseFolder = reference.Resolve(directory);
            ModelWeights.Load(backbone, baseFolder, HuggingFaceNames.ToParameterName);
            backbone.SourceFolder = baseFolder;
            backbone.SourceHash = reference.ContentSha256;
        }
        var model = new VlaModel(config, backbone); // attaches the adapters when config.model.lora asks
        // model.safetensors holds every non-adapter weight, or, over a referenced base, the head, the projectors
        // and whichever backbone weights trained. Each tensor is converted to its parameter's dtype.
        string modelFile = Path.Combine(directory, CheckpointFiles.Model);
        var written = reference is null ? null : SafetensorsFile.Open(modelFile).Entries.Select(e => e.Name).ToHashSet();
        ModelWeights.Load(model, directory, name => name, files: [modelFile], only: name => !LoraAdapters.IsAdapter(name)
            && (written is null || !name.StartsWith(BackbonePrefix, StringComparison.Ordinal) || written.Contains(name)));
        if (config.Model.Lora.Enabled) LoraAdapters.Load(model.Backbone, directory);
        var loaded = new Loaded(ModelFactory.OnDevice(model, device), tokenizer, state, config, directory);
        OpenMpTeam.Release(); // loading is done on this thread; it may be another one that computes (OpenMpTeam says why)
        return loaded;
    }

    /// <summary>
    /// Throws when <paramref name="current"/> describes a different model than the checkpoint's
    /// <paramref name="saved"/> config, naming the first differing key and both values.
    /// </summary>
    public static void CheckCompatible(VlaConfig current, VlaConfig saved, string checkpoint)
    {
        var pairs = new (string Key, object A, object B)[]
        {
            ("data.state_dim", current.Data.StateDim, saved.Data.StateDim),
            ("model.vlm_config.dtype", ConfigValidator.NormalizeDtype(current.Model.VlmConfig.Dtype), ConfigValidator.NormalizeDtype(saved.Model.VlmConfig.Dtype)),
            ("data.image_size", current.Data.ImageSize, saved.Data.ImageSize),
            ("model.vlm_config.use_aux_camera", current.Model.VlmConfig.UseAuxCamera, saved.Model.VlmConfig.UseAuxCamera),
            ("model.vision_resampler_config.output_dim", current.Model.VisionResamplerConfig.OutputDim, saved.Model.VisionResamplerConfig.OutputDim),
            ("model.lora.rank", current.Model.Lora.Rank, saved.Model.Lora.Rank),
            ("model.lora.alpha", current.Model.Lora.Alpha, saved.Model.Lora.Alpha),
            ("model.lora.dropout", current.Model.Lora.Dropout, saved.Model.Lora.Dropout),
            ("model.lora.target_modules", string.Join(",", current.Model.Lora.TargetModules.Order()), string.Join(",", saved.Model.Lora.TargetModules.Order())),
            ("model.action_head_config.use_state_input", current.Model.ActionHeadConfig.UseStateInput, saved.Model.ActionHeadConfig.UseStateInput),
            ("model.action_head_config.horizon", current.Model.ActionHeadConfig.Horizon, saved.Model.ActionHeadConfig.Horizon),
            ("model.action_head_config.per_action_dim", current.Model.ActionHeadConfig.PerActionDim, saved.Model.ActionHeadConfig.PerActionDim),
            ("model.action_head_config.hidden_dim", current.Model.ActionHeadConfig.HiddenDim, saved.Model.ActionHeadConfig.HiddenDim),
            ("model.action_head_config.num_layers", current.Model.ActionHeadConfig.NumLayers, saved.Model.ActionHeadConfig.NumLayers),
            ("model.action_head_config.num_heads", current.Model.ActionHeadConfig.NumHeads, saved.Model.ActionHeadConfig.NumHeads),
            ("model.action_head_config.mlp_hidden_dims", string.Join(",", current.Model.ActionHeadConfig.MlpHiddenDims), string.Join(",", saved.Model.ActionHeadConfig.MlpHiddenDims)),
        };
        foreach (var (key, a, b) in pairs)
            if (!a.Equals(b))
                throw new BadInputException($"{checkpoint} was trained with {key} = {b}, but the config says {a}; the checkpoint does not fit this model.");
    }

    private static Dictionary<string, string> Versions() => new()
    {
        ["vla"] = typeof(Checkpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?",
        ["torchsharp"] = typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
        ["libtorch"] = torch.__version__,
    };
}
