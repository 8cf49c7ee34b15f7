using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Data;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// Writes a pi0 or pi0.5 policy as a complete LeRobot folder, as <c>save_pretrained</c> and the processors' saves write one:
/// <c>config.json</c>, <c>model.safetensors</c> (keys under <c>model.</c>, PaliGemma in transformers ≥ 4.52's names, the
/// tied embedding stored once as <c>paligemma.lm_head.weight</c>, LoRA folded into the weights, the expert's unused
/// <c>lm_head</c> as zeros so a strict load finds every key), <c>policy_preprocessor.json</c> / <c>policy_postprocessor.json</c>
/// with the normalizer's statistics, and the tokenizer under <c>tokenizer/</c>. <see cref="LeRobotPolicyFolder"/> reads it back.
/// </summary>
public static class LeRobotPolicyWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Writes <paramref name="policy"/>, normalized by <paramref name="stats"/> as <paramref name="mode"/> says, into
    /// <paramref name="directory"/> (replaced atomically); <paramref name="cameras"/> name its visual features in order.
    /// </summary>
    public static void Save(Pi0Policy policy, NormalizationStats stats, NormalizationMode mode, IReadOnlyList<string> cameras, string directory)
    {
        if (cameras.Count != policy.Spec.Cameras)
            throw new ArgumentException($"{cameras.Count} camera names for a policy of {policy.Spec.Cameras} cameras.", nameof(cameras));
        string target = Path.GetFullPath(directory);
        string staging = $"{target}.tmp-{Environment.ProcessId}";
        try
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
            string norm = mode switch { NormalizationMode.ZScore => "MEAN_STD", NormalizationMode.Quantile => "QUANTILES", _ => "MIN_MAX" };
            File.WriteAllText(Path.Combine(staging, "config.json"), ConfigJson(policy, cameras, norm).ToJsonString(Indented));
            SafetensorsFile.Write(Path.Combine(staging, "model.safetensors"), Tensors(policy), new Dictionary<string, string> { ["format"] = "pt" });
            WriteProcessors(staging, policy, stats, norm);
            Directory.CreateDirectory(Path.Combine(staging, "tokenizer"));
            (policy.Tokenizer ?? throw new InvalidOperationException("The policy has no tokenizer to save.")).Save(Path.Combine(staging, "tokenizer", "tokenizer.model"));
            File.WriteAllText(Path.Combine(staging, "tokenizer", "tokenizer_config.json"), new JsonObject
            {
                ["tokenizer_class"] = "GemmaTokenizer", ["add_bos_token"] = true, ["add_eos_token"] = false, ["padding_side"] = "right",
                ["bos_token"] = "<bos>", ["eos_token"] = "<eos>", ["pad_token"] = "<pad>", ["unk_token"] = "<unk>",
            }.ToJsonString(Indented));
            AtomicDirectory.Publish(staging, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VlaException($"The LeRobot folder {target} could not be written ({e.Message.TrimEnd('.')}); nothing was left there.", e);
        }
        finally
        {
            try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>LeRobot's <c>PI0Config</c> / <c>PI05Config</c> fields this workbench reads, plus <c>test_shapes</c> for a model not of the released shape.</summary>
    private static JsonObject ConfigJson(Pi0Policy policy, IReadOnlyList<string> cameras, string norm)
    {
        var (spec, config) = (policy.Spec, policy.Model.Config);
        int side = config.PaliGemma.Vision.ImageSize;
        var inputs = new JsonObject();
        foreach (var camera in cameras) inputs[camera] = Feature("VISUAL", 3, side, side);
        inputs["observation.state"] = Feature("STATE", spec.StateDim);
        var json = new JsonObject
        {
            ["type"] = spec.Family,
            ["n_obs_steps"] = 1,
            ["input_features"] = inputs,
            ["output_features"] = new JsonObject { ["action"] = Feature("ACTION", spec.ActionDim) },
            ["paligemma_variant"] = "gemma_2b",
            ["action_expert_variant"] = "gemma_300m",
            ["dtype"] = spec.Dtype,
            ["chunk_size"] = config.ChunkSize,
            ["n_action_steps"] = config.ChunkSize,
            ["max_state_dim"] = config.MaxStateDim,
            ["max_action_dim"] = config.MaxActionDim,
            ["num_inference_steps"] = config.NumInferenceSteps,
            ["min_period"] = config.MinPeriod,
            ["max_period"] = config.MaxPeriod,
            ["image_resolution"] = new JsonArray(side, side),
            ["empty_cameras"] = 0,
            ["normalization_mapping"] = new JsonObject { ["VISUAL"] = "IDENTITY", ["STATE"] = norm, ["ACTION"] = norm },
            ["tokenizer_max_length"] = config.TokenizerMaxLength,
        };
        var released = Pi0Config.Released(config.TokenizerMaxLength);
        if (config.PaliGemma != released.PaliGemma || config.Expert != released.Expert) json["test_shapes"] = TestShapes(config);
        return json;
    }

    private static JsonObject TestShapes(Pi0Config config)
    {
        var v = config.PaliGemma.Vision;
        JsonObject Gemma(GemmaConfig g) => new()
        {
            ["width"] = g.HiddenSize, ["mlp_dim"] = g.IntermediateSize, ["depth"] = g.NumHiddenLayers, ["num_heads"] = g.NumAttentionHeads,
            ["num_kv_heads"] = g.NumKeyValueHeads, ["head_dim"] = g.HeadDim,
        };
        var vlm = Gemma(config.PaliGemma.Text);
        vlm["vocab"] = config.PaliGemma.Text.VocabSize;
        return new JsonObject
        {
            ["vision"] = new JsonObject
            {
                ["hidden_size"] = v.HiddenSize, ["intermediate_size"] = v.IntermediateSize, ["num_hidden_layers"] = v.NumHiddenLayers,
                ["num_attention_heads"] = v.NumAttentionHeads, ["image_size"] = v.ImageSize, ["patch_size"] = v.PatchSize, ["layer_norm_eps"] = v.LayerNormEps,
            },
            ["vlm"] = vlm,
            ["expert"] = Gemma(config.Expert),
        };
    }

    private static JsonObject Feature(string type, params int[] shape) => new() { ["type"] = type, ["shape"] = new JsonArray(shape.Select(s => (JsonNode)s).ToArray()) };

    /// <summary>Every tensor under LeRobot's names, adapters folded in, each made when the file reaches it (one extra copy alive at a time).</summary>
    private static List<SafetensorsFile.Pending> Tensors(Pi0Policy policy)
    {
        var layers = policy.Model.named_modules().Where(m => m.module is LoraLinear).ToDictionary(m => m.name + ".weight", m => (LoraLinear)m.module);
        var tensors = new List<SafetensorsFile.Pending>();
        foreach (var (name, parameter) in policy.Model.named_parameters())
        {
            if (LoraAdapters.IsAdapter(name)) continue;
            string saved = Pi0Weights.LeRobotName(name);                                                        // the embedding as lm_head, its only copy
            Func<Tensor> make = layers.TryGetValue(name, out var layer) ? layer.MergedWeight : () => parameter.detach().cpu();
            tensors.Add(new SafetensorsFile.Pending("model." + saved, parameter.shape, parameter.dtype, make));
        }
        var config = policy.Model.Config;
        long[] unused = [config.PaliGemma.Text.VocabSize, config.Expert.HiddenSize];                        // the expert's lm_head: no forward reads it
        var dtype = policy.Model.Dtype;                                                                        // in the model's dtype, as LeRobot saves it
        tensors.Add(new SafetensorsFile.Pending("model." + Pi0Weights.KnownUnused[0], unused, dtype, () => zeros(unused, dtype)));
        return tensors;
    }

    /// <summary>The processors' files: the normalizer's statistics for the state and the action, in each pipeline LeRobot builds for the family.</summary>
    private static void WriteProcessors(string folder, Pi0Policy policy, NormalizationStats stats, string norm)
    {
        var spec = policy.Spec;
        JsonObject Normalizer(string name, string file) => new()
        {
            ["registry_name"] = name,
            ["config"] = new JsonObject
            {
                ["eps"] = 1e-8,
                ["features"] = new JsonObject { ["observation.state"] = Feature("STATE", spec.StateDim), ["action"] = Feature("ACTION", spec.ActionDim) },
                ["norm_map"] = new JsonObject { ["VISUAL"] = "IDENTITY", ["STATE"] = norm, ["ACTION"] = norm },
            },
            ["state_file"] = file,
        };
        JsonObject Step(string name, JsonObject? config = null) => new() { ["registry_name"] = name, ["config"] = config ?? new JsonObject() };
        var tokenizer = Step("tokenizer_processor", new JsonObject
        {
            ["max_length"] = policy.Model.Config.TokenizerMaxLength, ["task_key"] = "task", ["padding_side"] = "right", ["padding"] = "max_length",
            ["truncation"] = true, ["tokenizer_name"] = "tokenizer",
        });
        var device = Step("device_processor", new JsonObject { ["device"] = "cpu", ["float_dtype"] = null });
        var relative = Step("relative_actions_processor", new JsonObject { ["enabled"] = false });
        var rename = Step("rename_observations_processor", new JsonObject { ["rename_map"] = new JsonObject() });
        List<JsonObject> pre = spec.Family == "pi0"
            ? [rename, Step("to_batch_processor"), Step("pi0_new_line_processor"), tokenizer, device, relative, Normalizer("normalizer_processor", "policy_preprocessor_step_6_normalizer_processor.safetensors")]
            : [rename, Step("to_batch_processor"), relative, Normalizer("normalizer_processor", "policy_preprocessor_step_3_normalizer_processor.safetensors"),
               Step("pi05_prepare_state_tokenizer_processor_step"), tokenizer, device];
        List<JsonObject> post = [Normalizer("unnormalizer_processor", "policy_postprocessor_step_0_unnormalizer_processor.safetensors"), Step("device_processor", new JsonObject { ["device"] = "cpu", ["float_dtype"] = null })];
        foreach (var (name, steps) in new[] { ("policy_preprocessor", pre), ("policy_postprocessor", post) })
        {
            File.WriteAllText(Path.Combine(folder, name + ".json"), new JsonObject { ["name"] = name, ["steps"] = new JsonArray([.. steps]) }.ToJsonString(Indented));
            string file = steps.Single(s => s["state_file"] is not null)["state_file"]!.GetValue<string>();
            using var scope = NewDisposeScope();
            SafetensorsFile.Write(Path.Combine(folder, file), StatTensors(stats), new Dictionary<string, string> { ["format"] = "pt" });
        }
    }

    private static IEnumerable<(string Name, Tensor Tensor)> StatTensors(NormalizationStats stats)  // small: freed by the caller's scope
    {
        foreach (var (feature, s) in new[] { ("observation.state", stats.State), ("action", stats.Action) })
        {
            var values = new List<(string, float[])> { ("mean", s.Mean), ("std", s.Std), ("min", s.Min), ("max", s.Max) };
            if (s.Q01.Length == s.Dim && s.Q99.Length == s.Dim) values.AddRange([("q01", s.Q01), ("q99", s.Q99)]);
            values.Add(("count", [s.Count]));
            foreach (var (stat, data) in values) yield return ($"{feature}.{stat}", tensor(data));
        }
    }
}
