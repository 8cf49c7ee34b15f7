using System.Reflection;
using TorchSharp;
using Vla.Config;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Runtime;

namespace Vla.Checkpoints;

/// <summary>
/// A checkpoint folder: the policy's own files (<see cref="ITrainablePolicy.Save"/>), the optimizer state, and the trainer
/// state with the config snapshot and normalization stats, so inference needs nothing but this folder, or, when base
/// weights stayed frozen (LoRA, <c>freeze_*</c>), this folder and the base model it names. Written aside and published
/// atomically. <see cref="ModelFactory.FromCheckpoint"/> reads one back.
/// </summary>
public static class Checkpoint
{
    /// <summary>A checkpoint read back.</summary>
    /// <param name="Policy">The policy, on the device asked for.</param>
    /// <param name="State">Its trainer state.</param>
    /// <param name="Config">The run configuration it was trained with (its dtype the one loaded).</param>
    /// <param name="Directory">The folder.</param>
    public sealed record Loaded(ITrainablePolicy Policy, TrainerState State, VlaConfig Config, string Directory);

    /// <summary>
    /// Writes the checkpoint to <paramref name="directory"/>, replacing any previous one there atomically: the policy's
    /// files, the trainer state and, through <paramref name="saveTrainingState"/>, the optimizer's files.
    /// </summary>
    public static void Save(string directory, ITrainablePolicy policy, Action<string>? saveTrainingState, TrainerState state) =>
        Write(directory, staging =>
        {
            policy.Save(staging);
            WriteState(staging, state);
            saveTrainingState?.Invoke(staging);
        });

    /// <summary>
    /// Writes a self-contained copy of <paramref name="checkpoint"/> for inference into <paramref name="directory"/>: the base
    /// model in Hugging Face layout under <c>paligemma/</c> (with the adapters folded in when <paramref name="mergeLora"/>),
    /// the adapters in PEFT's files when not merged, the head, the config, statistics and tokenizer. No optimizer state.
    /// </summary>
    public static void Export(Loaded checkpoint, string directory, bool mergeLora)
    {
        var model = checkpoint.Policy as VlaModel
            ?? throw new BadInputException($"{checkpoint.Directory} holds a {checkpoint.Policy.Spec.Family} policy; self-contained copies are written for {VlaModel.Family} checkpoints.");
        Write(directory, staging =>
        {
            int rank = VlaModelFolder.SaveSelfContained(model, staging, mergeLora);
            var config = checkpoint.Config with { BaseDirectory = null, Model = checkpoint.Config.Model with { Lora = checkpoint.Config.Model.Lora with { Rank = rank } } };
            WriteState(staging, checkpoint.State with { ConfigYaml = ConfigWriter.ToYaml(config) });
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

    /// <summary>Writes the trainer state (stamped with the library versions), its config as YAML and the statistics as JSON.</summary>
    private static void WriteState(string staging, TrainerState state)
    {
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.TrainerState), (state with { Versions = Versions() }).ToJson());
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.ConfigYaml), state.ConfigYaml);
        File.WriteAllText(Path.Combine(staging, CheckpointFiles.Stats), state.NormalizationStats.ToJson());
    }

    /// <summary>
    /// The trainer state and run configuration of the checkpoint in <paramref name="directory"/>, after checking that the
    /// folder holds every file <paramref name="required"/> names besides the trainer state.
    /// </summary>
    public static (TrainerState State, VlaConfig Config) ReadState(string directory, IEnumerable<string> required)
    {
        if (!Directory.Exists(directory)) throw new BadInputException($"Checkpoint folder {directory} does not exist.");
        RequireFiles(directory, required.Prepend(CheckpointFiles.TrainerState));
        string path = Path.Combine(directory, CheckpointFiles.TrainerState);
        var state = TrainerState.Load(path);
        return (state, ConfigLoader.Parse(state.ConfigYaml, path + " (config_yaml)"));
    }

    /// <summary>Throws naming the first of <paramref name="files"/> missing from the checkpoint <paramref name="directory"/>.</summary>
    public static void RequireFiles(string directory, IEnumerable<string> files)
    {
        foreach (var file in files)
            if (!File.Exists(Path.Combine(directory, file)))
                throw new BadInputException($"{Path.Combine(directory, file)} is missing: {directory} is not a complete checkpoint.");
    }

    /// <summary>
    /// Throws when <paramref name="current"/> describes a different model than the checkpoint's <paramref name="saved"/>
    /// config (<see cref="VlaModelConfig"/> equality), naming the first differing key and both values.
    /// </summary>
    public static void CheckCompatible(VlaConfig current, VlaConfig saved, string checkpoint)
    {
        var (ours, theirs) = (current.Model, saved.Model);
        foreach (var (key, now, then) in new[] { ("model.policy", ours.Policy, theirs.Policy), ("model.expert_lora", Describe(ours.ExpertLora), Describe(theirs.ExpertLora)) })
            if (now != then) throw new BadInputException($"{checkpoint} was trained with {key} = {then}, but the config says {now}; the checkpoint does not fit this model.");
        foreach (var (key, a, b) in ConfigKeys.Differences(VlaModelConfig.From(current), VlaModelConfig.From(saved)).Take(1))
            throw new BadInputException($"{checkpoint} was trained with {key} = {b}, but the config says {a}; the checkpoint does not fit this model.");
    }

    private static string Describe(LoraConfig lora) => $"rank {lora.Rank}, alpha {lora.Alpha}, dropout {lora.Dropout}, targets {string.Join(" ", lora.TargetModules.Order())}";

    private static Dictionary<string, string> Versions() => new()
    {
        ["vla"] = typeof(Checkpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?",
        ["torchsharp"] = typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
        ["libtorch"] = torch.__version__,
    };
}
