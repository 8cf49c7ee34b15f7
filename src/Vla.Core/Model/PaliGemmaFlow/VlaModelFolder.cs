using TorchSharp;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// A <see cref="VlaModel"/>'s files in a checkpoint folder: <c>model.safetensors</c> (plain parameter names, loadable by
/// Python's safetensors), the LoRA adapters in PEFT's files, the backbone's <c>config.json</c> as
/// <c>backbone_config.json</c>, the tokenizer and, when base weights stayed frozen (LoRA, <c>freeze_*</c>), a verified
/// reference to the base folder (<see cref="BaseModelReference"/>) instead of a copy.
/// </summary>
public static class VlaModelFolder
{
    /// <summary>The learned weights: every non-adapter parameter, or, over a referenced base, only what is not in the base.</summary>
    public const string Weights = "model.safetensors";
    /// <summary>The backbone's shape, in Hugging Face's config.json layout.</summary>
    public const string BackboneConfig = "backbone_config.json";
    /// <summary>The prompt tokenizer.</summary>
    public const string Tokenizer = "tokenizer.model";
    /// <summary>The base model written inside a self-contained export (Hugging Face layout).</summary>
    public const string ExportedBase = "paligemma";

    private const string BackbonePrefix = "backbone.";

    /// <summary>The files <see cref="Load"/> cannot do without.</summary>
    public static readonly IReadOnlyList<string> Required = [Weights, BackboneConfig, Tokenizer];

    /// <summary>
    /// Writes the model's files into <paramref name="folder"/>. When backbone weights loaded from a folder stay frozen, they
    /// are not copied: the folder holds what trains and a reference to the base as it was loaded. A backbone that trains
    /// whole, like the sample's, is saved in full.
    /// </summary>
    public static void Save(VlaModel model, string folder)
    {
        var frozen = model.named_parameters()
            .Where(p => p.name.StartsWith(BackbonePrefix, StringComparison.Ordinal) && !p.parameter.requires_grad)
            .Select(p => p.name).ToHashSet();
        string? baseFolder = frozen.Count > 0 ? model.Backbone.SourceFolder : null;
        // The base as it was loaded, not as the folder is now: the weights trained against it are what this refers to.
        var reference = baseFolder is null ? null
            : new BaseModelReference { Path = baseFolder, ContentSha256 = model.Backbone.SourceHash ?? ModelWeights.ContentHash(baseFolder) };
        Write(folder, model, reference, name => baseFolder is null || !frozen.Contains(name), model.Config.Lora);
    }

    /// <summary>
    /// Writes a self-contained copy into <paramref name="folder"/>: the base model in Hugging Face layout under
    /// <c>paligemma/</c> (with the adapters folded in when <paramref name="mergeLora"/>), the adapters in PEFT's files when
    /// not merged, the head and projectors. Returns the LoRA rank the copy has (0 once merged).
    /// </summary>
    public static int SaveSelfContained(VlaModel model, string folder, bool mergeLora)
    {
        var lora = model.Config.Lora;
        if (mergeLora && lora.Enabled)
        {
            LoraAdapters.Merge(model.Backbone);
            lora = lora with { Rank = 0 };
        }
        string baseDir = Path.Combine(folder, ExportedBase);
        ModelWeights.SaveBackbone(model.Backbone, baseDir);
        model.Tokenizer.Save(Path.Combine(baseDir, Tokenizer));
        Write(folder, model, BaseModelReference.To(baseDir, ExportedBase), name => !name.StartsWith(BackbonePrefix, StringComparison.Ordinal), lora);
        return lora.Rank;
    }

    /// <summary>Writes the files; <c>model.safetensors</c> takes the non-adapter parameters <paramref name="inWeights"/> accepts.</summary>
    private static void Write(string folder, VlaModel model, BaseModelReference? reference, Func<string, bool> inWeights, Config.LoraConfig lora)
    {
        SafetensorsFile.Write(Path.Combine(folder, Weights),
            model.named_parameters().Where(p => !LoraAdapters.IsAdapter(p.name) && inWeights(p.name)).Select(p => (p.name, (Tensor)p.parameter)),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "vla" });
        if (lora.Enabled) LoraAdapters.Save(model.Backbone, lora, reference?.Path ?? model.Backbone.SourceFolder ?? "", folder);
        reference?.Write(folder);
        File.WriteAllText(Path.Combine(folder, BackboneConfig), model.Backbone.Config.ToJson());
        model.Tokenizer.Save(Path.Combine(folder, Tokenizer));
    }

    /// <summary>
    /// Reads the model in <paramref name="folder"/> as <paramref name="config"/> describes it (its backbone in
    /// <c>config.Dtype</c>), naming any missing or damaged file. Stays on the CPU.
    /// </summary>
    public static VlaModel Load(string folder, VlaModelConfig config)
    {
        var backboneConfig = PaliGemmaConfig.Load(Path.Combine(folder, BackboneConfig));
        config.CheckFits(backboneConfig);
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(folder, Tokenizer));
        var backbone = new PaliGemmaBackbone(backboneConfig, ModelDtype.Parse(config.Dtype), initialize: false); // every weight is loaded below
        var reference = BaseModelReference.Read(folder);
        if (reference is not null)
        {
            string baseFolder = reference.Resolve(folder);
            ModelWeights.Load(backbone, baseFolder, HuggingFaceNames.ToParameterName);
            backbone.SourceFolder = baseFolder;
            backbone.SourceHash = reference.ContentSha256;
        }
        var model = new VlaModel(config, backbone, tokenizer); // attaches the adapters when the config asks
        // model.safetensors holds every non-adapter weight, or, over a referenced base, the head, the projectors
        // and whichever backbone weights trained. Each tensor is converted to its parameter's dtype.
        string weights = Path.Combine(folder, Weights);
        var written = reference is null ? null : SafetensorsFile.Open(weights).Entries.Select(e => e.Name).ToHashSet();
        ModelWeights.Load(model, folder, name => name, files: [weights], only: name => !LoraAdapters.IsAdapter(name)
            && (written is null || !name.StartsWith(BackbonePrefix, StringComparison.Ordinal) || written.Contains(name)));
        if (config.LoraRank > 0) LoraAdapters.Load(model.Backbone, folder);
        return model;
    }
}
