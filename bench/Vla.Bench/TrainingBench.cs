using System.Text.Json.Nodes;
using System.Diagnostics;
using TorchSharp;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using Vla.Training;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Bench;

/// <summary>
/// Training throughput (samples/s) and where a step's time goes — data wait, forward (backbone + head
/// loss), backward, optimizer — for the sample config and a mid-size one, with peak memory.
/// </summary>
internal static class TrainingBench
{
    /// <summary>The mid-size run: 224 px images, the mid backbone, a 4-layer × 256 head, batch 8.</summary>
    public static VlaConfig Mid(VlaConfig sample) => sample with
    {
        Data = sample.Data with { ImageSize = 224, BatchSize = 8 },
        Model = sample.Model with
        {
            VlmConfig = sample.Model.VlmConfig with { NumImageTokens = 256 },
            VisionResamplerConfig = new VisionResamplerConfig { OutputDim = 256 },
            ActionHeadConfig = sample.Model.ActionHeadConfig with { HiddenDim = 256, NumLayers = 4, MlpHiddenDims = [256] },
        },
    };

    /// <summary>The mid backbone with the sample tokenizer's vocabulary.</summary>
    public static PaliGemmaConfig MidBackbone() => BackboneBench.Mid() with { Text = BackboneBench.Mid().Text with { VocabSize = 304 }, ImageTokenIndex = 300 };

    /// <summary>Runs the benchmark; <paramref name="bucketMb"/> overrides <c>training.ddp_bucket_mb</c> (A/B of the all-reduce buckets under mpirun).</summary>
    public static async Task RunAsync(string repoRoot, bool quick, double? bucketMb = null)
    {
        int steps = quick ? 10 : 30;
        // Under mpirun every rank runs this; gradients are averaged as the trainer does (in training.ddp_bucket_mb buckets).
        using var group = Vla.Distributed.DistributedEnvironment.Create("mpi", TorchSharp.torch.CPU);
        bool leader = group.Rank == 0;
        var print = leader ? (Action<string>)Console.WriteLine : _ => { };
        var sample = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        if (bucketMb is double mb) sample = sample with { Training = sample.Training with { DdpBucketMb = mb } };
        var mid = Mid(sample);
        print($"ranks: {group.WorldSize}, threads per rank: {get_num_threads()}, all-reduce buckets of {sample.Training.DdpBucketMb} MB, {steps} measured steps after 3 warm-up steps, 2 cameras, float32");
        print("");
        print("| config | params | global batch | samples/s | step ms | data wait | forward | backward | all-reduce | optimizer | peak RSS MB |");
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var section = new JsonObject { ["ranks"] = group.WorldSize, ["threads_per_rank"] = get_num_threads(), ["bucket_mb"] = sample.Training.DdpBucketMb, ["measured_steps"] = steps };
        foreach (var (name, config, backbone) in new[] { ("sample", sample, PaliGemmaConfig.Sample()), ("mid", mid, MidBackbone()) })
        {
            var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
            var normalizer = new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax);
            var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
            var loader = new BatchLoader(dataset, normalizer, CompareBench.Layout(config), new LoaderOptions
            {
                BatchSize = config.Data.BatchSize / group.WorldSize, NumWorkers = 2, Seed = 1, Rank = group.Rank, WorldSize = group.WorldSize,
                Transform = new PaliGemmaFlowTransform(tokenizer, config.Data.PromptMaxLen),
            });
            using var model = CompareBench.SeededModel(config, backbone);
            using var trainStep = new TrainStep(model, config, group);
            using var noise = new StepNoise(1);
            var phases = new double[5];
            int done = 0, windows = 0;
            var total = Stopwatch.StartNew();
            var watch = Stopwatch.StartNew();
            foreach (var batch in loader.Epoch(1))
            {
                using var _ = batch;
                bool measured = done >= 3;
                if (done == 3) { total.Restart(); Array.Clear(phases); }
                double wait = watch.Elapsed.TotalMilliseconds;
                var times = trainStep.Run(batch, noise, config.Optimizer.Lr).Times;
                if (measured)
                {
                    phases[0] += wait;
                    phases[1] += 1000 * times.Forward;
                    phases[2] += 1000 * times.Backward;
                    phases[3] += 1000 * times.AllReduce;
                    phases[4] += 1000 * times.Optimizer;
                    windows += batch.Size * group.WorldSize;
                }
                if (++done == steps + 3) break;
                watch.Restart();
            }
            double seconds = total.Elapsed.TotalSeconds;
            double stepMs = phases.Sum() / steps;
            string Share(double ms) => $"{100 * ms / phases.Sum():F0} %";
            print($"| {name} | {model.parameters().Sum(p => p.numel()) / 1e6:F1} M | {config.Data.BatchSize} | {windows / seconds:F1} | {stepMs:F0} | {Share(phases[0])} | {Share(phases[1])} | {Share(phases[2])} | {Share(phases[3])} | {Share(phases[4])} | {BackboneBench.PeakRssMb():F0} |");
            section[name] = new JsonObject
            {
                ["params"] = model.parameters().Sum(p => p.numel()), ["global_batch"] = config.Data.BatchSize, ["samples_per_s"] = Math.Round(windows / seconds, 1),
                ["step_ms"] = Math.Round(stepMs), ["share_percent"] = new JsonObject(new[] { "data_wait", "forward", "backward", "all_reduce", "optimizer" }
                    .Select((phase, i) => KeyValuePair.Create(phase, (JsonNode?)Math.Round(100 * phases[i] / phases.Sum()))))
                , ["peak_rss_mb"] = Math.Round(BackboneBench.PeakRssMb()),
            };
        }
        // Under mpirun the part is measured with that many ranks; its section says how many.
        if (leader) BenchRecord.Merge(repoRoot, group.WorldSize > 1 ? $"train_{group.WorldSize}_ranks" : "train", section, quick, verb: "train", ranks: group.WorldSize);
    }
}
