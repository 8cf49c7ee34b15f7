using Vla.Model.Weights;
using Vla.Runtime;

namespace Vla.Model.Pi0;

/// <summary>
/// Loads a LeRobot or openpi pi0/pi0.5 <c>model.safetensors</c> in place: keys with LeRobot's <c>model.</c> prefix (its
/// saves) or without (the released files, openpi's conversions), PaliGemma's Hugging Face names mapped to the backbone's,
/// the tied embedding read from <c>paligemma.lm_head.weight</c> when the file has no <c>embed_tokens</c>, and the family's
/// renames of older files. Tensors known to be unused are named here and skipped; any other missing, extra or misshapen
/// tensor is refused, every one named.
/// </summary>
public static class Pi0Weights
{
    private const string Backbone = "paligemma_with_expert.paligemma.";
    private const string Expert = "paligemma_with_expert.gemma_expert.";
    private const string LmHead = Backbone + "lm_head.weight";
    private const string EmbedTokens = Backbone + "model.language_model.embed_tokens.weight";

    /// <summary>Tensors of released files that no forward uses: the expert's output head (it has no vocabulary; random in openpi's conversions).</summary>
    public static readonly IReadOnlyList<string> KnownUnused = [Expert + "lm_head.weight"];

    /// <summary>Loads the weights of <paramref name="folder"/>'s <c>model.safetensors</c> (or its shards) into <paramref name="model"/>.</summary>
    public static void Load(Pi0Model model, string folder)
    {
        var files = ModelWeights.Files(folder);
        var names = files.SelectMany(f => SafetensorsFile.Open(f).Entries.Select(e => Unprefixed(e.Name))).ToHashSet();
        bool embedStored = names.Contains(EmbedTokens);
        ModelWeights.Load(model, folder, name => ParameterName(Unprefixed(name), model.Family, embedStored), files: files);
    }

    /// <summary>The model's parameter for a file's tensor (already without <c>model.</c>), or null for one deliberately not loaded.</summary>
    public static string? ParameterName(string name, ExpertSuffix family, bool embedStored)
    {
        if (KnownUnused.Contains(name) || family.IsForeign(name)) return null;
        if (name == LmHead) return embedStored ? null : Backbone + "language_model.embed_tokens.weight"; // the tied table's only copy
        if (name.StartsWith(Backbone, StringComparison.Ordinal))
            return HuggingFaceNames.ToParameterName(name[Backbone.Length..]) is { } inner ? Backbone + inner : null;
        if (name.StartsWith(Expert + "model.", StringComparison.Ordinal)) return Expert + name[(Expert.Length + "model.".Length)..];
        return family.Rename(name);
    }

    /// <summary>
    /// LeRobot's name (without its <c>model.</c> prefix) for a parameter of <see cref="Pi0Model"/>: PaliGemma in transformers
    /// ≥ 4.52's layout, the expert under <c>gemma_expert.model.</c>, the rest as it is; the inverse of <see cref="ParameterName"/>
    /// (but for the tied embedding, whose only stored copy is <c>paligemma.lm_head.weight</c>).
    /// </summary>
    public static string LeRobotName(string parameter)
    {
        if (parameter == EmbedTokens.Replace("model.language_model.", "language_model.", StringComparison.Ordinal)) return LmHead;
        if (parameter.StartsWith(Backbone, StringComparison.Ordinal)) return Backbone + HuggingFaceNames.ToCurrentName(parameter[Backbone.Length..]);
        if (parameter.StartsWith(Expert, StringComparison.Ordinal)) return Expert + "model." + parameter[Expert.Length..];
        return parameter;
    }

    private static string Unprefixed(string name) => name.StartsWith("model.", StringComparison.Ordinal) ? name["model.".Length..] : name;
}
