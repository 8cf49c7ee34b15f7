using System.Text.Json.Nodes;
using Vla.Data;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Checkpoints;

/// <summary>The statistics a LeRobot policy folder's processors saved, read as <see cref="LeRobotPolicyFolder"/> loads them.</summary>
public static class LeRobotProcessorStats
{
    /// <summary>
    /// The statistics the processors saved: the normalizer's state file (named by <c>policy_preprocessor.json</c>) for the
    /// state and the unnormalizer's (<c>policy_postprocessor.json</c>) for the action, keyed <c>feature.stat</c>.
    /// </summary>
    public static NormalizationStats Read(string directory, LeRobotPolicyFolder.Description description)
    {
        var state = StatsOf(directory, "policy_preprocessor.json", "normalizer_processor", "observation.state", description.StateDim);
        var action = StatsOf(directory, "policy_postprocessor.json", "unnormalizer_processor", "action", description.ActionDim);
        var stats = new NormalizationStats { State = state, Action = action };
        stats.Require(description.Mode, Path.Combine(directory, "policy_preprocessor.json"));
        return stats;
    }

    private static DimensionStats StatsOf(string directory, string pipeline, string registryName, string feature, int dim)
    {
        string path = Path.Combine(directory, pipeline);
        if (!File.Exists(path)) throw new BadInputException($"{directory} has no {pipeline}, which holds the statistics the policy was trained with.");
        string file;
        try
        {
            var steps = JsonNode.Parse(File.ReadAllText(path))?["steps"]?.AsArray() ?? throw new BadInputException($"{path}: 'steps' is missing.");
            file = steps.FirstOrDefault(s => s?["registry_name"]?.GetValue<string>() == registryName)?["state_file"]?.GetValue<string>()
                ?? throw new BadInputException($"{path}: no '{registryName}' step with a state_file.");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new BadInputException($"{path}: not a LeRobot processor file ({e.Message.TrimEnd('.')}).", e);
        }
        if (Path.GetFileName(file) != file) throw new BadInputException($"{path}: state_file '{file}' must be a file in the folder itself.");
        string statsPath = Path.Combine(directory, file);
        if (!File.Exists(statsPath)) throw new BadInputException($"{path} names {file}, which is not in {directory}.");
        var tensors = SafetensorsFile.Open(statsPath);
        var names = tensors.Entries.Select(e => e.Name).ToHashSet();
        float[]? Read(string stat)
        {
            string name = $"{feature}.{stat}";
            if (!names.Contains(name)) return null;
            using var scope = NewDisposeScope();
            var values = tensors.Read(name).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            if (values.Length != dim) throw new BadInputException($"{statsPath}: '{name}' has {values.Length} values, but the feature has {dim}.");
            return values;
        }
        var mean = Read("mean") ?? throw new BadInputException($"{statsPath}: '{feature}.mean' is missing.");
        var std = Read("std") ?? throw new BadInputException($"{statsPath}: '{feature}.std' is missing.");
        var (q01, q99) = (Read("q01"), Read("q99"));
        return new DimensionStats
        {
            Mean = mean, Std = std, Min = Read("min") ?? q01 ?? mean, Max = Read("max") ?? q99 ?? mean, Q01 = q01 ?? [], Q99 = q99 ?? [], Count = 0,
        };
    }
}
