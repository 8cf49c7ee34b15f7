using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// What a pi0 or pi0.5 training checkpoint holds of the policy: the tensors that train (adapters, the expert when it trains
/// fully, the action and time projections; by the model's parameter names) in <see cref="Weights"/>, the tokenizer, and a
/// <see cref="BaseModelReference"/> to the LeRobot folder fine-tuning started from, which supplies every frozen tensor.
/// A complete LeRobot folder is written by <c>Checkpoints.LeRobotPolicyFolder.Save</c> instead.
/// </summary>
public static class Pi0CheckpointFiles
{
    /// <summary>The trained tensors.</summary>
    public const string Weights = "pi0_trained.safetensors";
    /// <summary>The prompt tokenizer.</summary>
    public const string Tokenizer = "tokenizer.model";

    /// <summary>The files besides the trainer's that a checkpoint needs.</summary>
    public static readonly IReadOnlyList<string> Required = [Weights, Tokenizer, BaseModelReference.FileName];

    /// <summary>Writes <paramref name="policy"/>'s trained tensors, tokenizer and base reference into <paramref name="folder"/>.</summary>
    public static void Save(Pi0Policy policy, string folder)
    {
        if (policy.Pretrained is null) throw new InvalidOperationException("The policy was not loaded from a LeRobot folder, so a checkpoint has no base to refer to.");
        SafetensorsFile.Write(Path.Combine(folder, Weights), Trained(policy).Select(p => (p.Name, (Tensor)p.Parameter)), new Dictionary<string, string> { ["format"] = "pt" });
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
        string path = Path.Combine(folder, Weights);
        ModelWeights.Load(policy.Model, folder, name => name, only: trained.Contains, files: [path]);
    }

    private static IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> Trained(Pi0Policy policy) =>
        policy.Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter));
}
