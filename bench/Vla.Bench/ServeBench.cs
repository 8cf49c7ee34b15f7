using System.Diagnostics;
using System.Text.Json.Nodes;
using Vla.Checkpoints;
using Vla.Client;
using Vla.Config;
using Vla.Data;
using Vla.Inference;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using Vla.Server;

namespace Vla.Bench;

/// <summary>
/// The policy server against the model alone: in-process <see cref="VlaPredictor.Predict"/> on a LIBERO-size observation
/// (two 224 × 224 × 3 uint8 images, 8 state floats, a prompt) against a <see cref="VlaPolicyClient"/> round trip over
/// loopback, one client and four, micro-batching off and on. Writes <c>serve</c> into latest.json.
/// </summary>
internal static class ServeBench
{
    private const int Clients = 4;

    public static async Task RunAsync(string repoRoot, bool quick)
    {
        var sample = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var rng = new Random(1);
        byte[] Image()
        {
            var pixels = new byte[224 * 224 * 3];
            rng.NextBytes(pixels);
            return pixels;
        }
        byte[] main = Image(), wrist = Image();
        var state = Enumerable.Range(0, 8).Select(i => 0.1f * i).ToArray();
        const string prompt = "put the bowl on the plate";
        var wire = new Dictionary<string, object?>
        {
            ["observation/image"] = NdArray.FromBytes(main, 224, 224, 3), ["observation/wrist_image"] = NdArray.FromBytes(wrist, 224, 224, 3),
            ["observation/state"] = NdArray.FromFloats(state), ["prompt"] = prompt,
        };
        Console.WriteLine($"LIBERO-size observation: two 224×224×3 uint8 images, 8 state floats, a prompt ({OpenPiMsgpack.Pack(wire).Length} bytes of msgpack); loopback; batch window 5 ms when on");
        Console.WriteLine();
        Console.WriteLine("| config | in-process p50 ms | server's infer_ms p50 | round trip p50 ms | p99 ms | overhead p50 ms | transport p50 ms | 4 clients, no batching req/s | p50 ms | 4 clients, batching req/s | p50 ms | mean batch | throughput ×|");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var figures = new JsonObject();
        foreach (var (name, config, backbone) in new[] { ("sample", sample, PaliGemmaConfig.Sample()), ("mid", TrainingBench.Mid(sample), TrainingBench.MidBackbone()) })
        {
            int single = quick ? (name == "sample" ? 40 : 10) : (name == "sample" ? 150 : 30);
            int perClient = quick ? (name == "sample" ? 20 : 4) : (name == "sample" ? 60 : 10);
            string folder = Directory.CreateTempSubdirectory("vla-serve-bench-").FullName;
            try
            {
                var libero = config with { Data = config.Data with { StateDim = 8 } };
                using (var model = ModelFactory.Random(libero, backbone, 1))
                    Checkpoint.Save(folder, model, null, new TrainerState { ConfigYaml = ConfigWriter.ToYaml(libero with { BaseDirectory = null }), NormalizationStats = UnitStats(8, 7) });
                using var predictor = VlaPredictor.Load(folder);
                var observation = new RobotObservation([new RgbFrame(main, 224, 224)], [new RgbFrame(wrist, 224, 224)], prompt, state);
                // In-process and round trip alternate, so a neighbour's load lands on both sides alike.
                var inProcess = new double[single];
                var roundTrip = new double[single];
                var serverInfer = new double[single];
                await using (var server = new PolicyServer(predictor, new ServerOptions(Port: 0, BatchWindowMs: 0)))
                {
                    await server.StartAsync();
                    await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
                    for (int i = 0; i < 2; i++)
                    {
                        predictor.Predict(observation);
                        await client.InferAsync(wire);
                    }
                    for (int i = 0; i < single; i++)
                    {
                        var watch = Stopwatch.StartNew();
                        predictor.Predict(observation);
                        inProcess[i] = watch.Elapsed.TotalMilliseconds;
                        watch.Restart();
                        var reply = await client.InferAsync(wire);
                        roundTrip[i] = watch.Elapsed.TotalMilliseconds;
                        serverInfer[i] = reply.InferMs ?? double.NaN;
                    }
                }
                var off = await ConcurrentAsync(predictor, wire, windowMs: 0, perClient);
                var on = await ConcurrentAsync(predictor, wire, windowMs: 5, perClient);
                double p50 = Measure.Median(inProcess), rt50 = Measure.Median(roundTrip), rt99 = Percentile(roundTrip, 0.99);
                Console.WriteLine($"| {name} | {p50:F2} | {Measure.Median(serverInfer):F2} | {rt50:F2} | {rt99:F2} | {rt50 - p50:F2} | {Measure.Median(roundTrip.Zip(serverInfer, (r, m) => r - m).ToArray()):F2} | {off.PerSecond:F1} | {off.P50:F1} | {on.PerSecond:F1} | {on.P50:F1} | {on.MeanBatch:F2} | {on.PerSecond / off.PerSecond:F2} |");
                figures[name] = new JsonObject
                {
                    ["in_process_p50_ms"] = Math.Round(p50, 2),
                    ["server_infer_p50_ms"] = Math.Round(Measure.Median(serverInfer), 2),
                    ["round_trip_p50_ms"] = Math.Round(rt50, 2),
                    ["round_trip_p99_ms"] = Math.Round(rt99, 2),
                    ["overhead_p50_ms"] = Math.Round(rt50 - p50, 2),
                    ["transport_p50_ms"] = Math.Round(Measure.Median(roundTrip.Zip(serverInfer, (r, m) => r - m).ToArray()), 2),
                    ["single_client_requests"] = single,
                    ["clients"] = Clients,
                    ["requests_per_client"] = perClient,
                    ["no_batching_requests_per_s"] = Math.Round(off.PerSecond, 2),
                    ["no_batching_p50_ms"] = Math.Round(off.P50, 1),
                    ["batching_requests_per_s"] = Math.Round(on.PerSecond, 2),
                    ["batching_p50_ms"] = Math.Round(on.P50, 1),
                    ["batching_mean_batch"] = Math.Round(on.MeanBatch, 2),
                    ["batching_throughput_ratio"] = Math.Round(on.PerSecond / off.PerSecond, 2),
                };
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        figures["observation"] = "LIBERO layout: two 224x224x3 uint8 images, 8 state floats, a prompt; float32 model, random weights in the config's shapes";
        BenchRecord.Merge(repoRoot, "serve", figures, quick);
    }

    /// <summary>Four clients, each sending <paramref name="perClient"/> requests back to back: requests per second, median latency, mean batch.</summary>
    private static async Task<(double PerSecond, double P50, double MeanBatch)> ConcurrentAsync(VlaPredictor predictor, Dictionary<string, object?> wire, double windowMs, int perClient)
    {
        await using var server = new PolicyServer(predictor, new ServerOptions(Port: 0, BatchWindowMs: windowMs, MaxBatch: 8));
        await server.StartAsync();
        var clients = await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => VlaPolicyClient.ConnectAsync(server.Uri)));
        try
        {
            await Task.WhenAll(clients.Select(c => c.InferAsync(wire)));   // warm-up
            var (batches0, requests0) = server.Served;
            var latencies = new List<double>();
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(clients.Select(async c =>
            {
                for (int i = 0; i < perClient; i++)
                {
                    var watch = Stopwatch.StartNew();
                    await c.InferAsync(wire);
                    lock (latencies) latencies.Add(watch.Elapsed.TotalMilliseconds);
                }
            }));
            double seconds = wall.Elapsed.TotalSeconds;
            var (batches, requests) = server.Served;
            return (Clients * perClient / seconds, Measure.Median([.. latencies]), (requests - requests0) / (double)(batches - batches0));
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    private static double Percentile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }

    private static NormalizationStats UnitStats(int stateDim, int actionDim)
    {
        DimensionStats Dims(int n) => new()
        {
            Min = Enumerable.Repeat(-1f, n).ToArray(), Max = Enumerable.Repeat(1f, n).ToArray(), Mean = new float[n], Std = Enumerable.Repeat(1f, n).ToArray(), Count = 1,
        };
        return new NormalizationStats { State = Dims(stateDim), Action = Dims(actionDim) };
    }
}
