using System.Text.Json.Nodes;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>
/// A pi0 or pi0.5 policy folder as LeRobot's <c>save_pretrained</c> writes it, read in place: <c>config.json</c> (the family,
/// the cameras and state and action sizes of its features, the chunk, the normalization mapping), <c>model.safetensors</c>
/// (<see cref="Pi0Weights"/>), and the statistics its processors saved (<c>policy_preprocessor.json</c> /
/// <c>policy_postprocessor.json</c> name the normalizer's <c>.safetensors</c>). The tokenizer is the folder's
/// <c>tokenizer/tokenizer.model</c> or one named by the caller (released folders carry none).
/// </summary>
public static class LeRobotPolicyFolder
{
    /// <summary>
    /// A loaded folder: the policy, the statistics its processors normalize with, how, and the normalizer of the code that
    /// trained it (<see cref="Normalizer.LeRobot"/>, or <see cref="Normalizer.OpenPi"/> for an openpi checkpoint).
    /// </summary>
    public sealed record Loaded(Pi0Policy Policy, NormalizationStats Stats, NormalizationMode Mode, IReadOnlyList<string> Cameras, string Directory)
    {
        /// <summary>The normalization the policy declares over these statistics.</summary>
        public Normalizer Normalizer => Normalizer.For(Stats, Mode, Policy.Spec.Normalization);
    }

    /// <summary>
    /// The folder's description read from its <c>config.json</c>. <see cref="Cameras"/> are the visual features in order (then
    /// <c>empty_cameras</c> that are always missing).
    /// </summary>
    public sealed record Description(string Family, Pi0Config Config, IReadOnlyList<string> Cameras, int StateDim, int ActionDim, NormalizationMode Mode);

    /// <summary>
    /// Whether <paramref name="directory"/> holds a LeRobot pi0 or pi0.5 folder (a <c>config.json</c> whose <c>type</c> is one of
    /// them) or an openpi one (<see cref="OpenPiPolicyFolder"/>), which loads the same way.
    /// </summary>
    public static bool Is(string directory)
    {
        if (OpenPiPolicyFolder.Is(directory)) return true;
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) return false;
        try { return JsonNode.Parse(File.ReadAllText(path))?["type"]?.GetValue<string>() is "pi0" or "pi05"; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { return false; }
    }

    /// <summary>
    /// What a fine-tune changes of a folder's policy: the robot it is trained for (cameras, state and action values) and the
    /// chunk; the weights do not depend on them (state and actions are padded to <c>max_state_dim</c> / <c>max_action_dim</c>).
    /// </summary>
    public sealed record Robot(int Cameras, int StateDim, int ActionDim, int ChunkSize, int NumInferenceSteps);

    /// <summary>
    /// Reads the folder onto the CPU; <paramref name="tokenizer"/> names a <c>tokenizer.model</c> (or its folder) when the folder
    /// has none; <paramref name="robot"/>, when given, replaces the robot and chunk its <c>config.json</c> declares;
    /// <paramref name="dtype"/> is what the transformers compute in (<see cref="Pi0Model.StoreIn"/>; float32 by default).
    /// </summary>
    public static Loaded Load(string directory, string? tokenizer = null, Robot? robot = null, ScalarType dtype = ScalarType.Float32)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new BadInputException($"{directory}: pi0 and pi0.5 run in float32 or bfloat16 (asked for {ModelDtype.Name(dtype)}).");
        TorchRuntime.EnsureReady();
        bool openpi = OpenPiPolicyFolder.Is(directory);
        var (description, stats) = openpi ? OpenPiPolicyFolder.Describe(directory) : (Describe(directory), null);
        stats ??= LeRobotProcessorStats.Read(directory, description);
        var tokens = LoadTokenizer(directory, tokenizer);
        var config = robot is null ? description.Config : description.Config with { ChunkSize = robot.ChunkSize, NumInferenceSteps = robot.NumInferenceSteps };
        if (robot is not null && (robot.StateDim > config.MaxStateDim || robot.ActionDim > config.MaxActionDim))
            throw new BadInputException($"{directory}: the policy reads at most {config.MaxStateDim} state and predicts {config.MaxActionDim} action values (max_state_dim, max_action_dim); the robot has {robot.StateDim} and {robot.ActionDim}.");
        Func<Pi0Config, ExpertSuffix> family = description.Family == "pi0" ? c => new Pi0Suffix(c) : c => new Pi05Suffix(c);
        var model = new Pi0Model(config, family, initialize: false); // every large weight is loaded next
        try
        {
            if (dtype != ScalarType.Float32) model.StoreIn(dtype);                // before loading: a bfloat16 file is read straight into bfloat16
            Pi0Weights.Load(model, directory);
            model.eval();
            PolicyTransform transform = description.Family == "pi0"
                ? new Pi0Transform(tokens, config.TokenizerMaxLength)
                : new Pi05Transform(tokens, config.TokenizerMaxLength);
            var policy = new Pi0Policy(model, transform, robot?.Cameras ?? description.Cameras.Count, robot?.StateDim ?? description.StateDim, robot?.ActionDim ?? description.ActionDim,
                                       openpi ? NormalizationStyle.OpenPi : NormalizationStyle.LeRobot)
            {
                Pretrained = Path.GetFullPath(directory),
            };
            OpenMpTeam.Release();
            return new Loaded(policy, stats, description.Mode, description.Cameras, Path.GetFullPath(directory));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The statistics the folder's processors saved (what <see cref="Load"/> returns, without loading the model).</summary>
    public static NormalizationStats Stats(string directory) =>
        OpenPiPolicyFolder.Is(directory) ? OpenPiPolicyFolder.Describe(directory).Stats : LeRobotProcessorStats.Read(directory, Describe(directory));

    /// <summary>The description of a LeRobot folder (<see cref="Describe(string)"/>) or of an openpi one (<see cref="OpenPiPolicyFolder.Describe"/>).</summary>
    public static Description DescribeAny(string directory) => OpenPiPolicyFolder.Is(directory) ? OpenPiPolicyFolder.Describe(directory).Description : Describe(directory);

    /// <summary>Reads and checks <c>config.json</c>, naming the file and key at fault.</summary>
    public static Description Describe(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) throw new BadInputException($"{directory} has no config.json: it is not a LeRobot policy folder.");
        try
        {
            return Describe(JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new BadInputException($"{path} is empty."), path);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new BadInputException($"{path}: a value is missing or of the wrong type ({e.Message.TrimEnd('.')}).", e);
        }
    }

    private static Description Describe(JsonObject json, string path)
    {
        string family = Text(json, "type", path);
        if (family is not ("pi0" or "pi05")) throw new BadInputException($"{path}: type '{family}' is not a policy this workbench loads (pi0 or pi05).");
        var features = json["input_features"]?.AsObject() ?? throw new BadInputException($"{path}: 'input_features' is missing.");
        var cameras = features.Where(f => f.Value?["type"]?.GetValue<string>() == "VISUAL").Select(f => f.Key).ToList();
        // LeRobot lists its always-missing cameras among the features (validate_features adds them when it saves); no
        // observation has them, so they are masked out as any missing camera is.
        int empty = Int(json, "empty_cameras", path, 0);
        if (empty < 0) throw new BadInputException($"{path}: 'empty_cameras' must not be negative (got {empty}).");
        cameras.AddRange(Enumerable.Range(0, empty).Select(i => $"observation.images.empty_camera_{i}").Where(c => !cameras.Contains(c)).ToList());
        foreach (var key in new[] { "use_relative_actions", "use_proprioceptive_memory", "use_visual_memory" })
            if (json[key]?.GetValue<bool>() == true) throw new BadInputException($"{path}: '{key}' is true, which this workbench does not run yet.");
        if (cameras.Count == 0) throw new BadInputException($"{path}: 'input_features' declares no VISUAL feature.");
        int stateDim = FeatureSize(features, "observation.state", path);
        int actionDim = FeatureSize(json["output_features"]?.AsObject(), "action", path);
        var config = Shape(json, path, family) with
        {
            ChunkSize = Int(json, "chunk_size", path, 50),
            MaxStateDim = Int(json, "max_state_dim", path, 32),
            MaxActionDim = Int(json, "max_action_dim", path, 32),
            NumInferenceSteps = Int(json, "num_inference_steps", path, 10),
            MinPeriod = Double(json, "min_period", path, 4e-3),
            MaxPeriod = Double(json, "max_period", path, 4.0),
        };
        foreach (var (key, value) in new[] { ("chunk_size", config.ChunkSize), ("max_state_dim", config.MaxStateDim), ("max_action_dim", config.MaxActionDim),
                                             ("num_inference_steps", config.NumInferenceSteps), ("tokenizer_max_length", config.TokenizerMaxLength),
                                             ("observation.state size", stateDim), ("action size", actionDim) })
            if (value <= 0) throw new BadInputException($"{path}: '{key}' must be positive (got {value}).");
        if (!(config.MinPeriod > 0 && config.MaxPeriod > config.MinPeriod))
            throw new BadInputException($"{path}: min_period and max_period must satisfy 0 < min_period < max_period (got {config.MinPeriod}, {config.MaxPeriod}).");
        if (stateDim > config.MaxStateDim || actionDim > config.MaxActionDim)
            throw new BadInputException($"{path}: the state ({stateDim}) or action ({actionDim}) is wider than max_state_dim ({config.MaxStateDim}) or max_action_dim ({config.MaxActionDim}).");
        return new Description(family, config, cameras, stateDim, actionDim, Mode(json, path));
    }

    /// <summary>
    /// The model's shape: the released one for <c>paligemma_variant: gemma_2b</c> and <c>action_expert_variant: gemma_300m</c>
    /// (the only variants LeRobot accepts); the tiny models of this project's tests give theirs under <c>test_shapes</c>.
    /// </summary>
    internal static Pi0Config Shape(JsonObject json, string path, string family)
    {
        int tokens = Int(json, "tokenizer_max_length", path, family == "pi0" ? 48 : 200);
        if (json["test_shapes"] is JsonObject test) return TestShapes(test, path) with { TokenizerMaxLength = tokens };
        string vlm = Text(json, "paligemma_variant", path, "gemma_2b"), expert = Text(json, "action_expert_variant", path, "gemma_300m");
        if (vlm != "gemma_2b" || expert != "gemma_300m")
            throw new BadInputException($"{path}: paligemma_variant '{vlm}' with action_expert_variant '{expert}' is not a released shape (gemma_2b with gemma_300m).");
        var (height, width) = json["image_resolution"] is JsonArray r && r.Count == 2 ? (r[0]!.GetValue<int>(), r[1]!.GetValue<int>()) : (224, 224);
        if ((height, width) != (224, 224)) throw new BadInputException($"{path}: image_resolution [{height}, {width}] is not the released [224, 224].");
        return Pi0Config.Released(tokens);
    }

    private static Pi0Config TestShapes(JsonObject test, string path)
    {
        JsonObject Part(string name) => test[name]?.AsObject() ?? throw new BadInputException($"{path}: test_shapes.{name} is missing.");
        int I(JsonObject o, string key) => o[key]?.GetValue<int>() ?? throw new BadInputException($"{path}: test_shapes has no '{key}'.");
        var (vision, vlm, expert) = (Part("vision"), Part("vlm"), Part("expert"));
        GemmaConfig Gemma(JsonObject o, int vocab) => new()
        {
            VocabSize = vocab, HiddenSize = I(o, "width"), IntermediateSize = I(o, "mlp_dim"), NumHiddenLayers = I(o, "depth"),
            NumAttentionHeads = I(o, "num_heads"), NumKeyValueHeads = I(o, "num_kv_heads"), HeadDim = I(o, "head_dim"),
        };
        return new Pi0Config
        {
            PaliGemma = new PaliGemmaConfig
            {
                Vision = new SiglipConfig
                {
                    HiddenSize = I(vision, "hidden_size"), IntermediateSize = I(vision, "intermediate_size"), NumHiddenLayers = I(vision, "num_hidden_layers"),
                    NumAttentionHeads = I(vision, "num_attention_heads"), ImageSize = I(vision, "image_size"), PatchSize = I(vision, "patch_size"), LayerNormEps = 1e-6,
                },
                Text = Gemma(vlm, I(vlm, "vocab")),
                ProjectionDim = I(vlm, "width"),
            },
            Expert = Gemma(expert, 0),
        };
    }

    /// <summary>LeRobot's mapping for STATE and ACTION (MEAN_STD or QUANTILES; MIN_MAX too), which must agree.</summary>
    private static NormalizationMode Mode(JsonObject json, string path)
    {
        var mapping = json["normalization_mapping"]?.AsObject();
        string state = mapping?["STATE"]?.GetValue<string>() ?? "MEAN_STD", action = mapping?["ACTION"]?.GetValue<string>() ?? "MEAN_STD";
        if (state != action)
            throw new BadInputException($"{path}: normalization_mapping normalizes STATE by {state} and ACTION by {action}; this workbench normalizes both one way.");
        return state switch
        {
            "MEAN_STD" => NormalizationMode.ZScore,
            "QUANTILES" => NormalizationMode.Quantile,
            "MIN_MAX" => NormalizationMode.MinMax,
            _ => throw new BadInputException($"{path}: normalization_mapping {state} for STATE and ACTION is not supported (MEAN_STD, QUANTILES or MIN_MAX)."),
        };
    }

    private static PaliGemmaTokenizer LoadTokenizer(string directory, string? tokenizer)
    {
        string inside = Path.Combine(directory, "tokenizer", "tokenizer.model");
        if (tokenizer is null && File.Exists(inside)) return PaliGemmaTokenizer.Load(inside);
        if (tokenizer is null)
            throw new BadInputException($"{directory} carries no tokenizer (tokenizer/tokenizer.model): name PaliGemma's tokenizer.model (LeRobotPolicyFolder.Load's tokenizer).");
        if (!File.Exists(tokenizer) && !File.Exists(Path.Combine(tokenizer, "tokenizer.model")))
            throw new BadInputException($"The tokenizer {tokenizer} does not exist (a tokenizer.model or a folder holding one).");
        return PaliGemmaTokenizer.Load(tokenizer);
    }

    private static int FeatureSize(JsonObject? features, string name, string path) =>
        features?[name]?["shape"] is JsonArray shape && shape.Count == 1 ? shape[0]!.GetValue<int>()
            : throw new BadInputException($"{path}: feature '{name}' with a one-dimensional shape is missing.");

    private static string Text(JsonObject json, string key, string path, string? fallback = null) =>
        json[key]?.GetValue<string>() ?? fallback ?? throw new BadInputException($"{path}: '{key}' is missing.");

    private static int Int(JsonObject json, string key, string path, int fallback)
    {
        try { return json[key]?.GetValue<int>() ?? fallback; }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new BadInputException($"{path}: '{key}' must be an integer."); }
    }

    private static double Double(JsonObject json, string key, string path, double fallback)
    {
        try { return json[key]?.GetValue<double>() ?? fallback; }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new BadInputException($"{path}: '{key}' must be a number."); }
    }
}
