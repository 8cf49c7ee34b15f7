using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>
/// Runs bench/pytorch/vla_twin.py under Debian's python3-torch with the same configuration and thread
/// count, and reads back its figures. OpenBLAS tuning variables are cleared for that process only, so
/// torch 1.13 picks its BLAS as a plain install would.
/// </summary>
internal static class PyTorchTwin
{
    public const string Python = "/usr/bin/python3";

    public static JsonNode Run(string repoRoot, JsonObject spec)
    {
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is missing: apt-get install python3-torch libopenblas0-pthread");
        string specPath = Path.GetTempFileName();
        try
        {
            File.WriteAllText(specPath, spec.ToJsonString());
            return RunTwin(repoRoot, specPath);
        }
        finally
        {
            File.Delete(specPath);
        }
    }

    /// <summary>Longest the twin may take (a full run needs about 10 minutes here).</summary>
    private static readonly TimeSpan TimeLimit = TimeSpan.FromMinutes(60);

    private static JsonNode RunTwin(string repoRoot, string specPath)
    {
        var start = new ProcessStartInfo(Python, [Path.Combine(repoRoot, "bench", "pytorch", "vla_twin.py"), specPath])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment.Remove("OPENBLAS_CORETYPE");
        start.Environment.Remove("OPENBLAS_L2_SIZE");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeLimit))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"the PyTorch twin was still running after {TimeLimit.TotalMinutes:0} minutes and was stopped");
        }
        string stdout = stdoutTask.Result;
        if (process.ExitCode != 0) throw new InvalidOperationException($"the PyTorch twin failed ({process.ExitCode}):\n{stderr.Result}");
        return JsonNode.Parse(stdout) ?? throw new InvalidOperationException("the PyTorch twin printed nothing");
    }

    /// <summary>The twin's description of one configuration: model sizes, batch, prompt ids and run counts.</summary>
    public static JsonObject ConfigSpec(string name, Vla.Config.VlaConfig config, Vla.Model.PaliGemmaConfig backbone, int batch, int cameras,
        long[] promptIds, bool[] promptMask, int promptLength, int warmup, int trainSteps, int latencyRuns)
    {
        var v = backbone.Vision;
        var t = backbone.Text;
        var head = config.Model.ActionHeadConfig;
        JsonArray Rows<T>(T[] flat) => new(Enumerable.Range(0, batch).Select(b => (JsonNode)new JsonArray(flat.Skip(b * promptLength).Take(promptLength).Select(x => JsonValue.Create(x)).ToArray())).ToArray());
        return new JsonObject
        {
            ["name"] = name, ["batch"] = batch, ["cameras"] = cameras, ["state_dim"] = config.Data.StateDim,
            ["context_dim"] = config.Model.VisionResamplerConfig.OutputDim,
            ["vision"] = new JsonObject { ["hidden"] = v.HiddenSize, ["intermediate"] = v.IntermediateSize, ["layers"] = v.NumHiddenLayers,
                ["heads"] = v.NumAttentionHeads, ["patch"] = v.PatchSize, ["image_size"] = v.ImageSize, ["eps"] = v.LayerNormEps },
            ["text"] = new JsonObject { ["vocab"] = t.VocabSize, ["hidden"] = t.HiddenSize, ["intermediate"] = t.IntermediateSize, ["layers"] = t.NumHiddenLayers,
                ["heads"] = t.NumAttentionHeads, ["kv_heads"] = t.NumKeyValueHeads, ["head_dim"] = t.HeadDim, ["eps"] = t.RmsNormEps, ["rope_theta"] = t.RopeTheta },
            ["head"] = new JsonObject { ["horizon"] = head.Horizon, ["per_action_dim"] = head.PerActionDim, ["hidden"] = head.HiddenDim,
                ["layers"] = head.NumLayers, ["heads"] = head.NumHeads, ["mlp_hidden"] = new JsonArray(head.MlpHiddenDims.Select(x => JsonValue.Create(x)).ToArray()) },
            ["prompt_ids"] = Rows(promptIds), ["prompt_mask"] = Rows(promptMask),
            ["warmup"] = warmup, ["train_steps"] = trainSteps, ["latency_runs"] = latencyRuns, ["euler_steps"] = 10,
        };
    }
}
