using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// pi0 and pi0.5 runs (<c>model.policy: pi0 | pi05</c>): the policy fine-tuning starts from (<c>model.pretrained</c>, a LeRobot
/// folder, fitted to the run's robot and chunk, with the adapters and freezing the config asks for), and the policy of one of
/// the run's checkpoints (the same, with the trained tensors read back).
/// </summary>
public static class Pi0Factory
{
    /// <summary>True when <paramref name="config"/> trains pi0 or pi0.5.</summary>
    public static bool Trains(VlaConfig config) => config.Model.Policy is "pi0" or "pi05";

    /// <summary>
    /// <paramref name="config"/> with what the pretrained folder decides: the normalization its <c>normalization_mapping</c>
    /// names (LeRobot keeps it with the policy, not the data), which replaces <c>data.normalization_mode</c>.
    /// </summary>
    public static VlaConfig Adopt(VlaConfig config)
    {
        var description = LeRobotPolicyFolder.DescribeAny(Pretrained(config));
        if (description.Family != config.Model.Policy)
            throw new BadInputException($"model.pretrained: {Pretrained(config)} holds a {description.Family} policy, but model.policy is {config.Model.Policy}.");
        return config with { Data = config.Data with { NormalizationMode = Normalizer.ModeName(description.Mode) } };
    }

    /// <summary>The statistics saved in the pretrained folder (<c>model.pretrained_stats</c>), which must cover the run's state and action values.</summary>
    public static NormalizationStats PretrainedStats(VlaConfig config)
    {
        string folder = Pretrained(config);
        var stats = LeRobotPolicyFolder.Stats(folder);
        if (stats.State.Dim != config.Data.StateDim || stats.Action.Dim != config.Model.ActionHeadConfig.PerActionDim)
            throw new BadInputException($"model.pretrained_stats: {folder}'s statistics cover {stats.State.Dim} state and {stats.Action.Dim} action values, " +
                                        $"but the run has {config.Data.StateDim} (data.state_dim) and {config.Model.ActionHeadConfig.PerActionDim} (model.action_head_config.per_action_dim).");
        return stats;
    }

    /// <summary>The policy a run starts from: the pretrained folder's, for the run's robot, adapters drawn from <paramref name="seed"/>.</summary>
    public static Pi0Policy FromConfig(VlaConfig config, long seed, Device? device)
    {
        string? tokenizer = string.IsNullOrEmpty(config.Data.TokenizerNameOrPath) ? null
            : PathResolver.ResolveExisting(config.Data.TokenizerNameOrPath, config.BaseDirectory)
              ?? throw new BadInputException($"data.tokenizer_name_or_path: '{config.Data.TokenizerNameOrPath}' does not exist.");
        return Build(config, Pretrained(config), tokenizer, seed, device);
    }

    /// <summary>The policy of the checkpoint in <paramref name="directory"/>, trained with <paramref name="config"/>.</summary>
    public static Pi0Policy FromCheckpoint(string directory, VlaConfig config, Device? device)
    {
        var policy = Build(config, Pi0CheckpointFiles.Base(directory), Path.Combine(directory, Pi0CheckpointFiles.Tokenizer), config.Training.Seed, null);
        try
        {
            Pi0CheckpointFiles.Load(policy, directory);
            return ModelFactory.OnDevice(policy, device);
        }
        catch
        {
            policy.Dispose();
            throw;
        }
    }

    private static Pi0Policy Build(VlaConfig config, string pretrained, string? tokenizer, long seed, Device? device)
    {
        var (data, model, head) = (config.Data, config.Model, config.Model.ActionHeadConfig);
        var dtype = ModelDtype.Parse(model.VlmConfig.Dtype);
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new BadInputException($"model.vlm_config.dtype: pi0 and pi0.5 run in float32 or bfloat16 (got {model.VlmConfig.Dtype}).");
        var robot = new LeRobotPolicyFolder.Robot(Cameras(config), data.StateDim, head.PerActionDim, head.Horizon, head.NumInferenceSteps);
        var policy = LeRobotPolicyFolder.Load(pretrained, tokenizer, robot, dtype).Policy;
        try
        {
            if (policy.Spec.ImageSize != data.ImageSize)
                throw new BadInputException($"data.image_size is {data.ImageSize}, but {pretrained}'s vision tower takes {policy.Spec.ImageSize} × {policy.Spec.ImageSize} images.");
            ModelFactory.Seeding(seed, () => policy.AttachAdapters(model.Lora, model.ExpertLora, model.VlmConfig.FreezeVisionTower, model.VlmConfig.FreezeLanguageModel));
            policy.GradientCheckpointing = config.Training.GradientCheckpointing;
            policy.Model.train();
            return ModelFactory.OnDevice(policy, device);
        }
        catch
        {
            policy.Dispose();
            throw;
        }
    }

    /// <summary>The cameras a run reads: every one <c>data.image_keys</c> names (LeRobot data), else one, or two with <c>use_aux_camera</c>.</summary>
    public static int Cameras(VlaConfig config) =>
        config.Data.ImageKeys.Count > 0 && !config.Model.VlmConfig.UseAuxCamera ? config.Data.ImageKeys.Count : config.Model.VlmConfig.UseAuxCamera ? 2 : 1;

    /// <summary>The names of the run's cameras as LeRobot features: <c>data.image_keys</c> for LeRobot data, else <c>observation.images.image_N</c>.</summary>
    public static IReadOnlyList<string> CameraNames(VlaConfig config, int cameras) =>
        config.Data.ImageKeys.Count >= cameras ? config.Data.ImageKeys.Take(cameras).ToList()
            : Enumerable.Range(1, cameras).Select(i => $"observation.images.image_{i}").ToList();

    private static string Pretrained(VlaConfig config) =>
        PathResolver.ResolveExisting(config.Model.Pretrained, config.BaseDirectory)
        ?? throw new BadInputException($"model.pretrained: folder '{config.Model.Pretrained}' does not exist.");
}
