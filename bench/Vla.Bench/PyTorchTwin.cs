using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>
/// bench/pytorch/vla_twin.py under Debian's python3-torch, kept running beside this process so that its
/// measurements can alternate with ours (one JSON request and reply per line). OpenBLAS tuning variables are
/// cleared for that process only, so torch 1.13 picks its BLAS as a plain install would, and its OpenMP threads wait
/// passively (its best setting here).
/// </summary>
internal sealed class PyTorchTwin : IDisposable
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Longest one request may take (a mid training step takes 10–25 s here).</summary>
    private static readonly TimeSpan RequestLimit = TimeSpan.FromMinutes(10);

    private readonly Process _process;
    private readonly Task<string> _stderr;

    public string Version { get; }
    public string Blas { get; }

    public PyTorchTwin(string repoRoot, int threads, string script = "vla_twin.py")
    {
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is missing: apt-get install python3-torch libopenblas0-pthread");
        var start = new ProcessStartInfo(Python, [Path.Combine(repoRoot, "bench", "pytorch", script)])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment.Remove("OPENBLAS_CORETYPE");
        start.Environment.Remove("OPENBLAS_L2_SIZE");
        // torch 1.13's OpenMP threads spin while OpenBLAS's own threads work: four busy threads on two cores made its
        // sample step 54-690 ms (median 133); with OpenMP's waiting threads asleep it reads 47-104 (median 70-83) and its
        // mid step is unchanged (bench/README.md). The twin runs at its best, so this is set for it.
        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        _process = Process.Start(start)!;
        _stderr = _process.StandardError.ReadToEndAsync();
        var info = Ask(new JsonObject { ["op"] = "info", ["threads"] = threads });
        Version = info["pytorch_version"]!.GetValue<string>();
        Blas = info["blas"]!.GetValue<string>();
    }

    public double MatmulGflops(string dtype) => Ask(new JsonObject { ["op"] = "matmul", ["dtype"] = dtype })["gflops"]!.GetValue<double>();

    /// <summary>Builds the twin of one configuration under <paramref name="key"/>; returns its parameter count.</summary>
    public long Load(string key, JsonObject spec) => Ask(new JsonObject { ["op"] = "load", ["key"] = key, ["config"] = spec })["params"]!.GetValue<long>();

    /// <summary>Milliseconds of each of <paramref name="steps"/> training steps.</summary>
    public double[] Train(string key, int steps) => Numbers(Ask(new JsonObject { ["op"] = "train", ["key"] = key, ["steps"] = steps })["ms"]!);

    /// <summary>Milliseconds of each of <paramref name="runs"/> chunks, and of their backbone part.</summary>
    public (double[] Chunk, double[] Backbone) Chunk(string key, int runs)
    {
        var reply = Ask(new JsonObject { ["op"] = "chunk", ["key"] = key, ["runs"] = runs });
        return (Numbers(reply["chunk_ms"]!), Numbers(reply["backbone_ms"]!));
    }

    public void Drop(string key) => Ask(new JsonObject { ["op"] = "drop", ["key"] = key });

    /// <summary>Sends one request and returns the reply (a twin's own operations).</summary>
    public JsonNode Request(JsonObject request) => Ask(request);

    private JsonNode Ask(JsonObject request)
    {
        _process.StandardInput.WriteLine(request.ToJsonString());
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLineAsync();
        if (!line.Wait(RequestLimit)) throw new InvalidOperationException($"the PyTorch twin did not answer '{request["op"]}' within {RequestLimit.TotalMinutes:0} minutes");
        if (line.Result is null)
            throw new InvalidOperationException($"the PyTorch twin exited ({(_process.WaitForExit(5000) ? _process.ExitCode : "still running")}) on '{request["op"]}':\n{(_stderr.Wait(5000) ? _stderr.Result : "")}");
        var reply = JsonNode.Parse(line.Result)!;
        if (reply["error"] is { } error) throw new InvalidOperationException($"the PyTorch twin failed on '{request["op"]}' ({request["key"]}): {error}");
        return reply;
    }

    private static double[] Numbers(JsonNode array) => array.AsArray().Select(n => n!.GetValue<double>()).ToArray();

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close(); // the twin ends with its input
            if (!_process.WaitForExit(10_000)) _process.Kill(entireProcessTree: true);
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The twin's description of one configuration: model sizes, batch, prompt ids and dtype.</summary>
    public static JsonObject ConfigSpec(string name, Vla.Config.VlaConfig config, Vla.Model.PaliGemmaConfig backbone, int batch, int cameras,
        long[] promptIds, bool[] promptMask, int promptLength)
    {
        var v = backbone.Vision;
        var t = backbone.Text;
        var head = config.Model.ActionHeadConfig;
        JsonArray Rows<T>(T[] flat) => new(Enumerable.Range(0, batch).Select(b => (JsonNode)new JsonArray(flat.Skip(b * promptLength).Take(promptLength).Select(x => JsonValue.Create(x)).ToArray())).ToArray());
        return new JsonObject
        {
            ["name"] = name, ["dtype"] = config.Model.VlmConfig.Dtype, ["batch"] = batch, ["cameras"] = cameras, ["state_dim"] = config.Data.StateDim,
            ["context_dim"] = config.Model.VisionResamplerConfig.OutputDim,
            ["vision"] = new JsonObject { ["hidden"] = v.HiddenSize, ["intermediate"] = v.IntermediateSize, ["layers"] = v.NumHiddenLayers,
                ["heads"] = v.NumAttentionHeads, ["patch"] = v.PatchSize, ["image_size"] = v.ImageSize, ["eps"] = v.LayerNormEps },
            ["text"] = new JsonObject { ["vocab"] = t.VocabSize, ["hidden"] = t.HiddenSize, ["intermediate"] = t.IntermediateSize, ["layers"] = t.NumHiddenLayers,
                ["heads"] = t.NumAttentionHeads, ["kv_heads"] = t.NumKeyValueHeads, ["head_dim"] = t.HeadDim, ["eps"] = t.RmsNormEps, ["rope_theta"] = t.RopeTheta },
            ["head"] = new JsonObject { ["horizon"] = head.Horizon, ["per_action_dim"] = head.PerActionDim, ["hidden"] = head.HiddenDim,
                ["layers"] = head.NumLayers, ["heads"] = head.NumHeads, ["mlp_hidden"] = new JsonArray(head.MlpHiddenDims.Select(x => JsonValue.Create(x)).ToArray()) },
            ["prompt_ids"] = Rows(promptIds), ["prompt_mask"] = Rows(promptMask), ["euler_steps"] = CompareBench.EulerSteps,
        };
    }
}
