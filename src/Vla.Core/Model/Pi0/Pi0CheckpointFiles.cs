using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Config;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// What a pi0 or pi0.5 training checkpoint holds of the policy: the LoRA adapters in PEFT's files (<see cref="LoraAdapters.WeightsFile"/>
/// and <see cref="LoraAdapters.ConfigFile"/>, named as PEFT names them on LeRobot's <c>PI0Policy</c>:
/// <c>base_model.model.model.&lt;LeRobot's module&gt;.lora_A.weight</c>), the other tensors that train (the expert when it trains
/// fully, the action and time projections; by parameter name) in <see cref="Weights"/>, the tokenizer, and a
/// <see cref="BaseModelReference"/> to the LeRobot folder fine-tuning started from, which supplies every frozen tensor.
/// A complete LeRobot folder is written by <c>Checkpoints.LeRobotPolicyWriter</c> instead.
/// </summary>
public static class Pi0CheckpointFiles
{
    /// <summary>The trained tensors that are not adapters.</summary>
    public const string Weights = "pi0_trained.safetensors";
    /// <summary>The prompt tokenizer.</summary>
    public const string Tokenizer = "tokenizer.model";

    private const string PeftPrefix = "base_model.model.model.";

    /// <summary>The files besides the trainer's that a checkpoint needs.</summary>
    public static readonly IReadOnlyList<string> Required = [Weights, Tokenizer, BaseModelReference.FileName];

    /// <summary>Writes <paramref name="policy"/>'s trained tensors, adapters, tokenizer and base reference into <paramref name="folder"/>.</summary>
    public static void Save(Pi0Policy policy, string folder)
    {
        if (policy.Pretrained is null) throw new InvalidOperationException("The policy was not loaded from a LeRobot folder, so a checkpoint has no base to refer to.");
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        var trained = Trained(policy).ToList();
        SafetensorsFile.Write(Path.Combine(folder, Weights), trained.Where(p => !LoraAdapters.IsAdapter(p.Name)).Select(p => (p.Name, (Tensor)p.Parameter)), metadata);
        var (vlm, expert) = policy.Adapters;
        if (vlm.Enabled || expert.Enabled)
        {
            SafetensorsFile.Write(Path.Combine(folder, LoraAdapters.WeightsFile),
                trained.Where(p => LoraAdapters.IsAdapter(p.Name)).Select(p => (PeftPrefix + Pi0Weights.LeRobotName(p.Name), (Tensor)p.Parameter)), metadata);
            File.WriteAllText(Path.Combine(folder, LoraAdapters.ConfigFile), PeftConfig(vlm, expert, policy.Pretrained).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        (policy.Tokenizer ?? throw new InvalidOperationException("The policy has no tokenizer to save.")).Save(Path.Combine(folder, Tokenizer));
        BaseModelReference.To(policy.Pretrained).Write(folder);
    }

    /// <summary>
    /// The LeRobot folder that <paramref name="folder"/>'s checkpoint was trained from, after checking it is still there as it
    /// was (<see cref="BaseModelReference.Resolve"/>).
    /// </summary>
    public static string Base(string folder) =>
        (BaseModelReference.Read(folder) ?? throw new BadInputException($"{Path.Combine(folder, BaseModelReference.FileName)} is missing: a pi0 checkpoint names the folder it was fine-tuned from.")).Resolve(folder);

    /// <summary>Loads the trained tensors of <paramref name="folder"/> into <paramref name="policy"/>, whose adapters are already attached; every one must be there.</summary>
    public static void Load(Pi0Policy policy, string folder)
    {
        var trained = Trained(policy).Select(p => p.Name).ToHashSet();
        ModelWeights.Load(policy.Model, folder, name => name, only: n => trained.Contains(n) && !LoraAdapters.IsAdapter(n), files: [Path.Combine(folder, Weights)]);
        if (!trained.Any(LoraAdapters.IsAdapter)) return;
        string adapters = Path.Combine(folder, LoraAdapters.WeightsFile);
        if (!File.Exists(adapters)) throw new BadInputException($"{adapters} is missing: the checkpoint was trained with LoRA but holds no adapters.");
        ModelWeights.Load(policy.Model, folder, name => name.StartsWith(PeftPrefix, StringComparison.Ordinal)
            ? Pi0Weights.ParameterName(name[PeftPrefix.Length..], policy.Model.Family, embedStored: true) : name,
            only: n => trained.Contains(n) && LoraAdapters.IsAdapter(n), files: [adapters]);
    }

    /// <summary>
    /// PEFT's <c>LoraConfig</c> for these adapters on LeRobot's <c>PI0Policy</c>: <c>target_modules</c> as the regular expression PEFT
    /// full-matches (PaliGemma's targeted projections, the expert's), the expert's rank and alpha through <c>rank_pattern</c> /
    /// <c>alpha_pattern</c> when they differ from PaliGemma's.
    /// </summary>
    public static JsonObject PeftConfig(LoraConfig vlm, LoraConfig expert, string baseModel)
    {
        var targets = new List<string>();
        if (vlm.Enabled) targets.Add(LoraAdapters.TargetPattern(vlm, @".*paligemma\.model\.language_model", @".*paligemma\.model\.vision_tower"));
        if (expert.Enabled) targets.Add(LoraAdapters.TargetPattern(expert, @".*gemma_expert\.model", @".*gemma_expert\.model"));
        var main = vlm.Enabled ? vlm : expert;
        var config = LoraAdapters.PeftConfig(main, baseModel, string.Join("|", targets));
        if (vlm.Enabled && expert.Enabled)
        {
            config["rank_pattern"] = new JsonObject { [".*gemma_expert.*"] = expert.Rank };
            config["alpha_pattern"] = new JsonObject { [".*gemma_expert.*"] = expert.Alpha };
        }
        return config;
    }

    private static IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> Trained(Pi0Policy policy) =>
        policy.Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter));
}
