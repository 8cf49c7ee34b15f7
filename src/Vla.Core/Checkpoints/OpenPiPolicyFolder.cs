using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Data;
using Vla.Model.Pi0;
using Vla.Model.Weights;
using Vla.Runtime;

namespace Vla.Checkpoints;

/// <summary>
/// A pi0 or pi0.5 checkpoint as openpi's PyTorch conversion writes it (<c>examples/convert_jax_model_to_pytorch.py</c>):
/// <c>model.safetensors</c> without LeRobot's <c>model.</c> prefix, a <c>config.json</c> holding only <c>action_dim</c>,
/// <c>action_horizon</c>, the variants and the precision, and the statistics in <c>assets/&lt;asset id&gt;/norm_stats.json</c>.
/// The family is read from the weights (pi0.5 has <c>time_mlp_in</c>, pi0 <c>state_proj</c>); the cameras are openpi's three
/// image slots; the state and action sizes are those of the statistics; normalization is openpi's (quantiles for pi0.5).
/// </summary>
public static class OpenPiPolicyFolder
{
    /// <summary>openpi's image slots, in order (a robot with fewer cameras leaves the rest masked).</summary>
    public static readonly IReadOnlyList<string> Cameras = ["observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb", "observation.images.right_wrist_0_rgb"];

    /// <summary>Whether <paramref name="directory"/> holds an openpi checkpoint: a <c>config.json</c> with <c>action_horizon</c> and no <c>type</c>, and an <c>assets</c> folder.</summary>
    public static bool Is(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path) || !Directory.Exists(Path.Combine(directory, "assets"))) return false;
        try { return JsonNode.Parse(File.ReadAllText(path)) is JsonObject json && json["type"] is null && json["action_horizon"] is not null; }
        catch (JsonException) { return false; }
    }

    /// <summary>The folder's description and statistics, naming the file and key at fault.</summary>
    public static (LeRobotPolicyFolder.Description Description, NormalizationStats Stats) Describe(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new BadInputException($"{path} is empty."); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new BadInputException($"{path}: not an openpi config ({e.Message.TrimEnd('.')}).", e); }
        string family = Family(directory);
        var statsFile = NormStatsFile(directory);
        var (state, action) = (ReadStats(statsFile, "state"), ReadStats(statsFile, "actions"));
        var mode = family == "pi05" ? NormalizationMode.Quantile : NormalizationMode.ZScore;
        var stats = new NormalizationStats { State = state, Action = action };
        stats.Require(mode, statsFile);
        int tokens = family == "pi05" ? 200 : 48;
        int Int(string key, int fallback)
        {
            try { return json[key]?.GetValue<int>() ?? fallback; }
            catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new BadInputException($"{path}: '{key}' must be an integer."); }
        }
        var config = (json["test_shapes"] is JsonObject ? LeRobotPolicyFolder.Shape(json, path, family) : Pi0Config.Released(tokens)) with
        {
            ChunkSize = Int("action_horizon", 50), MaxStateDim = Int("action_dim", 32), MaxActionDim = Int("action_dim", 32), TokenizerMaxLength = Int("max_token_len", tokens),
        };
        if (config.ChunkSize <= 0 || config.MaxActionDim <= 0) throw new BadInputException($"{path}: 'action_horizon' and 'action_dim' must be positive.");
        if (state.Dim > config.MaxStateDim || action.Dim > config.MaxActionDim)
            throw new BadInputException($"{statsFile}: the statistics cover {state.Dim} state and {action.Dim} action values, more than the model's {config.MaxActionDim} (action_dim).");
        return (new LeRobotPolicyFolder.Description(family, config, Cameras, state.Dim, action.Dim, mode), stats);
    }

    private static string Family(string directory)
    {
        var files = ModelWeights.Files(directory);
        var names = files.SelectMany(f => SafetensorsFile.Open(f).Entries.Select(e => e.Name)).ToHashSet();
        if (names.Contains("time_mlp_in.weight")) return "pi05";
        if (names.Contains("state_proj.weight")) return "pi0";
        throw new BadInputException($"{files[0]} holds neither time_mlp_in (pi0.5) nor state_proj (pi0): not an openpi pi0 or pi0.5 model.");
    }

    private static string NormStatsFile(string directory)
    {
        string assets = Path.Combine(directory, "assets");
        var found = Directory.EnumerateFiles(assets, "norm_stats.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        return found.Count switch
        {
            1 => found[0],
            0 => throw new BadInputException($"{assets} holds no norm_stats.json: openpi keeps the statistics the policy was trained with there."),
            _ => throw new BadInputException($"{assets} holds {found.Count} norm_stats.json ({string.Join(", ", found.Select(f => Path.GetRelativePath(assets, f)))}); keep the one of the robot the policy serves."),
        };
    }

    private static DimensionStats ReadStats(string file, string key)
    {
        try
        {
            var stats = JsonNode.Parse(File.ReadAllText(file))?["norm_stats"]?[key]?.AsObject()
                ?? throw new BadInputException($"{file}: norm_stats.{key} is missing.");
            float[]? Values(string name) => stats[name] is JsonArray a ? a.Select(v => v!.GetValue<float>()).ToArray() : null;
            var mean = Values("mean") ?? throw new BadInputException($"{file}: norm_stats.{key}.mean is missing.");
            var std = Values("std") ?? throw new BadInputException($"{file}: norm_stats.{key}.std is missing.");
            var (q01, q99) = (Values("q01"), Values("q99"));
            if (std.Length != mean.Length || (q01 ?? mean).Length != mean.Length || (q99 ?? mean).Length != mean.Length)
                throw new BadInputException($"{file}: norm_stats.{key}'s statistics differ in length.");
            return new DimensionStats { Mean = mean, Std = std, Min = q01 ?? mean, Max = q99 ?? mean, Q01 = q01 ?? [], Q99 = q99 ?? [], Count = 0 };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new BadInputException($"{file}: not openpi's norm_stats.json ({e.Message.TrimEnd('.')}).", e);
        }
    }
}
