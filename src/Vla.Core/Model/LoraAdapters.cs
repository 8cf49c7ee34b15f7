using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Config;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// LoRA on the backbone: which projections get adapters (<c>model.lora.target_modules</c>), freezing the base, and
/// the adapters' files in PEFT's layout (<c>adapter_model.safetensors</c> with <c>base_model.model.&lt;module&gt;.lora_A.weight</c>
/// names, <c>adapter_config.json</c> with PEFT's keys) so a Python PEFT user can read them.
/// </summary>
public static class LoraAdapters
{
    /// <summary>PEFT's adapter weights file.</summary>
    public const string WeightsFile = "adapter_model.safetensors";
    /// <summary>PEFT's adapter config file.</summary>
    public const string ConfigFile = "adapter_config.json";

    private const string VisionPrefix = "vision_tower.";
    private const string PeftPrefix = "base_model.model.";

    /// <summary>
    /// Freezes every weight of <paramref name="backbone"/> (PaliGemma, or pi0's action expert) and attaches a float32 adapter
    /// to each targeted projection, its dropout drawing from the model's <paramref name="masks"/>.
    /// A target that names no projection, or a rank above a targeted layer's width, is a <see cref="BadInputException"/>
    /// naming <paramref name="key"/>, the config section the adapters come from.
    /// </summary>
    public static void Attach(TorchSharp.torch.nn.Module backbone, LoraConfig config, DropoutMasks masks, string key = "model.lora")
    {
        var layers = Projections(backbone);
        foreach (var target in config.TargetModules.Where(t => !layers.Any(l => Matches(t, l.Name))))
        {
            var known = layers.Select(l => Short(l.Name)).Distinct().ToList();
            string hint = Config.ConfigLoader.Suggest(target, known) is string s ? $" Did you mean '{s}'?" : "";
            throw new BadInputException($"{key}.target_modules: '{target}' names no projection of the {(backbone is PaliGemmaBackbone ? "backbone" : "action expert")}.{hint} Known: {string.Join(", ", known)}.");
        }
        foreach (var p in backbone.parameters()) p.requires_grad = false;
        foreach (var (name, layer) in layers.Where(l => config.TargetModules.Any(t => Matches(t, l.Name))))
            layer.AttachAdapter(config.Rank, config.Alpha, config.Dropout, masks, name);
    }

    /// <summary>Folds every adapter of <paramref name="backbone"/> into its base weight (a self-contained export that merges them).</summary>
    public static void Merge(TorchSharp.torch.nn.Module backbone)
    {
        foreach (var (_, layer) in Projections(backbone)) layer.MergeAdapter();
    }

    /// <summary>True when <paramref name="parameter"/> (a backbone- or model-level name) is an adapter tensor.</summary>
    public static bool IsAdapter(string parameter) => parameter.Contains(".lora_A.", StringComparison.Ordinal) || parameter.Contains(".lora_B.", StringComparison.Ordinal);

    /// <summary>PEFT's name for a backbone adapter tensor: <c>base_model.model.</c> + the Hub module name.</summary>
    public static string ToPeftName(string backboneParameter) => PeftPrefix + HuggingFaceNames.ToHubName(backboneParameter);

    /// <summary>The backbone parameter a PEFT adapter tensor name refers to (either transformers layout).</summary>
    public static string? FromPeftName(string peftName) =>
        peftName.StartsWith(PeftPrefix, StringComparison.Ordinal) ? HuggingFaceNames.ToParameterName(peftName[PeftPrefix.Length..]) : null;

    /// <summary>Writes the adapters of <paramref name="backbone"/> and their <c>adapter_config.json</c> into <paramref name="folder"/>.</summary>
    public static void Save(PaliGemmaBackbone backbone, LoraConfig config, string baseModel, string folder)
    {
        SafetensorsFile.Write(Path.Combine(folder, WeightsFile),
            backbone.named_parameters().Where(p => IsAdapter(p.name)).Select(p => (ToPeftName(p.name), (Tensor)p.parameter)),
            new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(folder, ConfigFile), PeftConfig(config, baseModel).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Loads <c>adapter_model.safetensors</c> from <paramref name="folder"/> into the adapters already attached to <paramref name="backbone"/>.</summary>
    public static void Load(PaliGemmaBackbone backbone, string folder)
    {
        string path = Path.Combine(folder, WeightsFile);
        if (!File.Exists(path)) throw new BadInputException($"{path} is missing: the checkpoint was trained with LoRA but holds no adapters.");
        var adapters = backbone.named_parameters().Where(p => IsAdapter(p.name)).Select(p => p.name).ToHashSet();
        ModelWeights.Load(backbone, path, FromPeftName, only: adapters.Contains, files: [path]); // errors name the file
    }

    /// <summary>
    /// PEFT's <c>LoraConfig</c> for these adapters. <c>target_modules</c> is written as the regular expression PEFT
    /// full-matches against module names, so it selects exactly the layers that have adapters here (the decoder's
    /// or the vision tower's), in either transformers layout.
    /// </summary>
    public static JsonObject PeftConfig(LoraConfig config, string baseModel) =>
        PeftConfig(config, baseModel, TargetPattern(config, ".*language_model", ".*vision_tower"));

    /// <summary>
    /// The regular expression PEFT full-matches for <paramref name="config"/>'s targets: the plain ones under modules matching
    /// <paramref name="language"/>, the <c>vision_tower.</c> ones under <paramref name="vision"/>.
    /// </summary>
    public static string TargetPattern(LoraConfig config, string language, string vision)
    {
        var plain = config.TargetModules.Where(t => !t.StartsWith(VisionPrefix, StringComparison.Ordinal)).ToList();
        var tower = config.TargetModules.Where(t => t.StartsWith(VisionPrefix, StringComparison.Ordinal)).Select(t => t[VisionPrefix.Length..]).ToList();
        var patterns = new List<string>();
        if (plain.Count > 0) patterns.Add($@"{language}.*\.({string.Join("|", plain)})");
        if (tower.Count > 0) patterns.Add($@"{vision}.*\.({string.Join("|", tower)})");
        return string.Join("|", patterns);
    }

    /// <summary>PEFT's <c>LoraConfig</c> for adapters of <paramref name="config"/>'s rank and alpha on the modules <paramref name="targets"/> matches.</summary>
    public static JsonObject PeftConfig(LoraConfig config, string baseModel, string targets) => new()
    {
        ["peft_type"] = "LORA",
        ["task_type"] = null,
        ["base_model_name_or_path"] = baseModel,
        ["r"] = config.Rank,
        ["lora_alpha"] = config.Alpha,
        ["lora_dropout"] = config.Dropout,
        ["target_modules"] = targets,
        ["bias"] = "none",
        ["fan_in_fan_out"] = false,
        ["inference_mode"] = true,
        ["init_lora_weights"] = true,
        ["use_rslora"] = false,
        ["use_dora"] = false,
        ["modules_to_save"] = null,
    };

    private static List<(string Name, LoraLinear Layer)> Projections(TorchSharp.torch.nn.Module backbone) =>
        backbone.named_modules().Where(m => m.module is LoraLinear).Select(m => (m.name, (LoraLinear)m.module)).ToList();

    /// <summary>A target's spelling of a layer: its last name, with <c>vision_tower.</c> in front for SigLIP's.</summary>
    private static string Short(string name) =>
        (name.StartsWith(VisionPrefix, StringComparison.Ordinal) ? VisionPrefix : "") + name[(name.LastIndexOf('.') + 1)..];

    private static bool Matches(string target, string name) => Short(name) == target;
}
