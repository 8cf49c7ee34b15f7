using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Tokenization;
using Vla.Runtime;
using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>
/// The side-by-side suite (bench/README.md, "Against PyTorch"): for the sample and the mid config, data
/// pipeline throughput, the training step (batch 8, forward + backward + AdamW) and one action chunk
/// (batch 1, 10 Euler steps) here and in the PyTorch twin, MFU, peak memory and RSS growth over 200
/// steps; writes bench/results/latest.json.
/// </summary>
internal static class CompareBench
{
    private const int Batch = 8, Cameras = 2, RssSteps = 200;

    /// <summary>Step and call counts. RSS growth is counted from step <paramref name="RssWarmup"/> on: the first
    /// tens of steps grow the allocators' caches (a one-off, seen as a plateau in rss_mb_every_50_steps).</summary>
    private sealed record Runs(int Warmup, int TrainSteps, int LatencyRuns, int RssWarmup, int RssSteps);

    public static async Task RunAsync(string repoRoot, bool quick)
    {
        int threads = get_num_threads();
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var (sample, sampleBackbone) = ConfigNamed(repoRoot, "sample");
        var (mid, midBackbone) = ConfigNamed(repoRoot, "mid");
        var configs = new[]
        {
            // Quick mode stays under 3 minutes: the sample's allocator caches settle within 50 steps (bench/README.md, change 1).
            ("sample", sample, sampleBackbone, quick ? new Runs(2, 5, 5, 50, RssSteps) : new Runs(3, 20, 15, 100, RssSteps)),
            ("mid", mid, midBackbone, quick ? new Runs(1, 2, 2, 0, 0) : new Runs(2, 5, 10, 20, RssSteps)),
        };
        Console.WriteLine($"threads: {threads}, batch {Batch}, {Cameras} cameras, float32 then bfloat16, {(quick ? "quick" : "full")} mode");
        // This host is shared: the matmul rate moves with the neighbours' load, so it is sampled before, between
        // and after the configs and the best sample is the machine's limit that MFU divides by.
        var gflopsSamples = new List<double> { MatmulGflops() };
        double oursGflops = gflopsSamples[0];
        Console.WriteLine($"matmul 1024² float32: {oursGflops:F0} GFLOP/s (TorchSharp {typeof(torch).Assembly.GetName().Version})");

        var figures = new JsonObject();
        var twinSpecs = new JsonArray();
        foreach (var (name, config, backbone, runs) in configs)
        {
            var watch = Stopwatch.StartNew();
            var (figs, spec) = await MeasureOursAsync(name, config, backbone, tokenizer, runs);
            figures[name] = figs;
            gflopsSamples.Add(MatmulGflops());
            twinSpecs.Add(spec);
            Console.WriteLine($"{name}: ours measured in {watch.Elapsed.TotalSeconds:F0} s");
        }

        // Precision: the same configs with the backbone in bfloat16 (bench/README.md, "Precision").
        var bf16Figures = new JsonObject();
        var bf16GflopsSamples = new List<double> { MatmulGflops(ScalarType.BFloat16) };
        foreach (var (name, config, backbone, runs) in configs)
        {
            var watch = Stopwatch.StartNew();
            var bf16 = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { Dtype = "bfloat16" } } };
            var (figs, spec) = await MeasureOursAsync(name, bf16, backbone, tokenizer, runs, dataAndMemory: false);
            bf16Figures[name] = figs;
            bf16GflopsSamples.Add(MatmulGflops(ScalarType.BFloat16));
            twinSpecs.Add(spec);
            Console.WriteLine($"{name} in bfloat16: ours measured in {watch.Elapsed.TotalSeconds:F0} s");
        }
        double oursBf16Gflops = bf16GflopsSamples.Max();
        Console.WriteLine($"matmul 1024² bfloat16: {oursBf16Gflops:F0} GFLOP/s");

        oursGflops = gflopsSamples.Max();
        foreach (var (name, _, _, _) in configs)
        {
            var f = figures[name]!.AsObject();
            f["mfu"] = Round(f["train_step_flop"]!.GetValue<double>() / 1e9 / (f["train_step_ms"]!["ours"]!.GetValue<double>() / 1000) / oursGflops, 3);
        }
        var twinWatch = Stopwatch.StartNew();
        var twin = PyTorchTwin.Run(repoRoot, new JsonObject { ["threads"] = threads, ["configs"] = twinSpecs });
        Console.WriteLine($"PyTorch twin ({twin["pytorch_version"]}, BLAS {twin["blas"]}) measured in {twinWatch.Elapsed.TotalSeconds:F0} s");
        foreach (var (name, _, _, _) in configs)
        {
            var f = figures[name]!.AsObject();
            var p = twin["configs"]![name]!;
            double oursStep = f["train_step_ms"]!["ours"]!.GetValue<double>(), theirsStep = p["train_step_ms"]!.GetValue<double>();
            double oursChunk = f["chunk_latency_ms"]!["ours"]!.GetValue<double>(), theirsChunk = p["chunk_latency_ms"]!.GetValue<double>();
            f["train_step_ms"]!["pytorch"] = Round(theirsStep);
            f["train_step_ratio"] = Round(oursStep / theirsStep, 3);
            f["chunk_latency_ms"]!["pytorch"] = Round(theirsChunk);
            f["chunk_latency_ratio"] = Round(oursChunk / theirsChunk, 3);
            f["backbone_ms"]!["pytorch"] = Round(p["backbone_ms"]!.GetValue<double>());
            f["params"]!["pytorch"] = p["params"]!.GetValue<long>();
        }

        var precision = new JsonObject();
        foreach (var (name, _, _, _) in configs)
        {
            var f32 = figures[name]!;
            var b16 = bf16Figures[name]!;
            var twinBf16 = twin["configs"]![name + "_bf16"]!;
            double fp32Step = f32["train_step_ms"]!["ours"]!.GetValue<double>(), bf16Step = b16["train_step_ms"]!["ours"]!.GetValue<double>();
            double fp32Chunk = f32["chunk_latency_ms"]!["ours"]!.GetValue<double>(), bf16Chunk = b16["chunk_latency_ms"]!["ours"]!.GetValue<double>();
            double twinStep = twinBf16["train_step_ms"]!.GetValue<double>(), twinChunk = twinBf16["chunk_latency_ms"]!.GetValue<double>();
            precision[name] = new JsonObject
            {
                ["fp32_train_ms"] = Round(fp32Step), ["bf16_train_ms"] = Round(bf16Step), ["bf16_over_fp32_train_step"] = Round(bf16Step / fp32Step, 3),
                ["fp32_chunk_ms"] = Round(fp32Chunk), ["bf16_chunk_ms"] = Round(bf16Chunk), ["bf16_over_fp32_chunk"] = Round(bf16Chunk / fp32Chunk, 3),
                ["pytorch_bf16_train_ms"] = Round(twinStep), ["train_step_ratio_bf16"] = Round(bf16Step / twinStep, 3),
                ["pytorch_bf16_chunk_ms"] = Round(twinChunk), ["chunk_latency_ratio_bf16"] = Round(bf16Chunk / twinChunk, 3),
                ["fp32_backbone_ms"] = f32["backbone_ms"]!["ours"]!.DeepClone(), ["bf16_backbone_ms"] = b16["backbone_ms"]!["ours"]!.DeepClone(),
                ["bf16_train_step_split_ms"] = b16["train_step_split_ms"]!.DeepClone(),
                ["mfu_bf16"] = Round(f32["train_step_flop"]!.GetValue<double>() / 1e9 / (bf16Step / 1000) / oursBf16Gflops, 3),
            };
        }

        var result = new JsonObject
        {
            ["machine"] = $"{Host.Summary()}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}",
            ["processor"] = Host.Processor(),
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["mode"] = quick ? "quick" : "full",
            ["threads"] = threads,
            ["pytorch_version"] = twin["pytorch_version"]!.GetValue<string>(),
            ["pytorch_blas"] = twin["blas"]!.GetValue<string>(),
            ["matmul_gflops"] = new JsonObject { ["ours"] = Round(oursGflops, 1), ["pytorch"] = Round(twin["matmul_gflops"]!.GetValue<double>(), 1) },
            ["matmul_gflops_ours_samples"] = new JsonArray(gflopsSamples.Select(g => JsonValue.Create(Round(g, 1))).ToArray()),
            ["matmul_gflops_bf16"] = new JsonObject { ["ours"] = Round(oursBf16Gflops, 1), ["pytorch"] = Round(twin["matmul_gflops_bf16"]!.GetValue<double>(), 1) },
            ["configs"] = figures,
            ["precision"] = precision,
        };
        string folder = Path.Combine(repoRoot, "bench", "results");
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "latest.json");
        File.WriteAllText(path + ".tmp", result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(path + ".tmp", path, overwrite: true);
        Console.WriteLine();
        PrintTable(result);
        Console.WriteLine($"\nwritten: {path}");
    }

    /// <summary>Training steps of one config with the RSS every 50 steps: for chasing memory growth.</summary>
    public static async Task RssProbeAsync(string repoRoot, string name, int steps)
    {
        var (config, backbone) = ConfigNamed(repoRoot, name);
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var (figures, _) = await MeasureOursAsync(name, config, backbone, tokenizer, new Runs(3, 3, 1, name == "mid" ? 20 : 100, steps));
        Console.WriteLine($"{name}: RSS every 50 steps {figures["rss_mb_every_50_steps"]!.ToJsonString()}, growth {figures["rss_growth_mb_200_steps"]} MB over {steps} steps");
    }

    /// <summary>The "sample" or "mid" configuration at this suite's batch size, with its backbone.</summary>
    internal static (VlaConfig Config, PaliGemmaConfig Backbone) ConfigNamed(string repoRoot, string name)
    {
        var sample = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        sample = sample with { Data = sample.Data with { BatchSize = Batch } };
        return name == "mid" ? (TrainingBench.Mid(sample), TrainingBench.MidBackbone()) : (sample, PaliGemmaConfig.Sample());
    }

    /// <summary>The model both sides start from: seed 1, the backbone's own initialization, in the config's dtype.</summary>
    internal static VlaModel SeededModel(VlaConfig config, PaliGemmaConfig backbone) => ModelFactory.Random(config, backbone, 1);

    /// <summary>The first batch of epoch 0 in the seed-1 order, built on this thread.</summary>
    internal static VlaBatch FirstBatch(EpisodeDataset dataset, Normalizer normalizer, VlaConfig config, PaliGemmaTokenizer tokenizer) =>
        new BatchLoader(dataset, normalizer, BatchLayout.From(config),
            new LoaderOptions { BatchSize = Batch, NumWorkers = 0, Seed = 1, EncodePrompts = ModelFactory.PromptEncoder(tokenizer, config.Data.PromptMaxLen) }).Epoch(0).First();

    /// <summary>Our side of one config: the training step and the chunk in the config's dtype; with <paramref name="dataAndMemory"/>, also the data pipeline and memory figures.</summary>
    private static async Task<(JsonObject Figures, JsonObject TwinSpec)> MeasureOursAsync(string name, VlaConfig config, PaliGemmaConfig backbone,
        PaliGemmaTokenizer tokenizer, Runs runs, bool dataAndMemory = true)
    {
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        var normalizer = new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax);
        var layout = BatchLayout.From(config);
        double dataRate = dataAndMemory ? new[] { 0, 2 }.Max(workers => DataWindowsPerSecond(dataset, normalizer, layout, workers, runs.LatencyRuns > 5 ? 3 : 1)) : double.NaN;
        if (!dataAndMemory) runs = runs with { RssSteps = 0 };

        var batch = FirstBatch(dataset, normalizer, config, tokenizer);
        var tokens = tokenizer.EncodeBatch(batch.Prompts, config.Data.PromptMaxLen);
        var model = SeededModel(config, backbone);
        using var trainStep = new TrainStep(model, config);
        using var generator = new Generator(1);
        var phases = new List<double[]>();
        double rssAfterWarmup = 0;
        var rssTrace = new JsonArray();
        int totalSteps = Math.Max(runs.Warmup + runs.TrainSteps, runs.RssSteps > 0 ? runs.RssWarmup + runs.RssSteps : 0);
        for (int step = 0; step < totalSteps; step++)
        {
            if (step == runs.RssWarmup) rssAfterWarmup = RssMb();
            if (runs.RssSteps > 0 && step % 50 == 0) rssTrace.Add(Round(RssMb()));
            var times = trainStep.Run(batch, generator, config.Optimizer.Lr).Times;
            if (step >= runs.Warmup && step < runs.Warmup + runs.TrainSteps) phases.Add([1000 * times.Forward, 1000 * times.Backward, 1000 * times.Optimizer]);
        }
        double rssGrowth = runs.RssSteps > 0 ? RssMb() - rssAfterWarmup : double.NaN;
        if (runs.RssSteps > 0) rssTrace.Add(Round(RssMb()));
        double stepMs = Measure.Median(phases.Select(p => p.Sum()).ToArray());
        double flops = MatmulFlops.TrainStep(config, backbone, Batch, Cameras, tokens.Length);

        model.eval();
        using var one = BatchOf(batch, 1);
        var oneInput = new PolicyInput(one.Images, one.TokenIds, one.TokenMask, one.State);
        double backboneMs, chunkMs;
        using (no_grad())
        {
            backboneMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                model.EncodeContext(oneInput);
            }, runs.LatencyRuns, runs.Warmup));
            chunkMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                model.SampleActions(oneInput, 10, generator: generator);
            }, runs.LatencyRuns, runs.Warmup));
        }
        double trainRate = Batch / (stepMs / 1000);
        var figures = new JsonObject
        {
            ["dtype"] = config.Model.VlmConfig.Dtype,
            ["data_windows_per_s"] = double.IsNaN(dataRate) ? null : Round(dataRate),
            ["train_windows_per_s"] = Round(trainRate, 2),
            ["data_to_train_ratio"] = Round(dataRate / trainRate, 1),
            ["train_step_ms"] = new JsonObject { ["ours"] = Round(stepMs) },
            ["train_step_split_ms"] = new JsonObject
            {
                ["forward"] = Round(Measure.Median(phases.Select(p => p[0]).ToArray())),
                ["backward"] = Round(Measure.Median(phases.Select(p => p[1]).ToArray())),
                ["optimizer"] = Round(Measure.Median(phases.Select(p => p[2]).ToArray())),
            },
            ["chunk_latency_ms"] = new JsonObject { ["ours"] = Round(chunkMs) },
            ["backbone_ms"] = new JsonObject { ["ours"] = Round(backboneMs) },
            ["train_step_gflop"] = Round(flops / 1e9, 2),
            ["train_step_flop"] = flops, // unrounded, for MFU
            ["mfu"] = null, // set once the machine's matmul rate is known
            ["peak_rss_mb"] = Round(BackboneBench.PeakRssMb()),
            ["rss_growth_mb_200_steps"] = double.IsNaN(rssGrowth) ? null : Round(rssGrowth),
            ["rss_mb_every_50_steps"] = rssTrace,
            ["params"] = new JsonObject { ["ours"] = model.parameters().Sum(p => p.numel()) },
        };
        figures["rss_growth_note"] = double.IsNaN(rssGrowth)
            ? "measured in full mode only (210 steps of this config take about 40 minutes here)"
            : $"RSS after step {runs.RssWarmup + runs.RssSteps} minus RSS after step {runs.RssWarmup} (after a full GC each time)";
        var spec = PyTorchTwin.ConfigSpec(name, config, backbone, Batch, Cameras, tokens.Ids, tokens.Mask, tokens.Length,
            runs.Warmup, runs.TrainSteps, runs.LatencyRuns);
        spec["dtype"] = config.Model.VlmConfig.Dtype;
        model.Dispose();
        batch.Dispose();
        return (figures, spec);
    }

    private static double DataWindowsPerSecond(EpisodeDataset dataset, Normalizer normalizer, BatchLayout layout, int workers, int runs)
    {
        var loader = new BatchLoader(dataset, normalizer, layout, new LoaderOptions { BatchSize = Batch, NumWorkers = workers, Prefetch = 4, Seed = 1 });
        int epoch = 0, windows = 0;
        var seconds = Measure.Seconds(() =>
        {
            windows = 0;
            foreach (var b in loader.Epoch(epoch++)) { windows += b.Size; b.Dispose(); }
        }, runs);
        return windows / Measure.Median(seconds);
    }

    private static VlaBatch BatchOf(VlaBatch batch, int size) => new()
    {
        Images = batch.Images[..size].clone(), TokenIds = batch.TokenIds[..size].clone(), TokenMask = batch.TokenMask[..size].clone(), State = batch.State[..size].clone(),
        Actions = batch.Actions[..size].clone(), ActionMask = batch.ActionMask[..size].clone(),
        Prompts = batch.Prompts[..size], Windows = batch.Windows[..size],
    };

    private static double MatmulGflops(ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        var a = randn(1024, 1024).to_type(dtype);
        var b = randn(1024, 1024).to_type(dtype);
        double seconds = Measure.Median(Measure.Seconds(() => { using var s = NewDisposeScope(); matmul(a, b); }, 20, 3));
        return 2.0 * 1024 * 1024 * 1024 / seconds / 1e9;
    }

    /// <summary>Resident set after a full collection, in MB.</summary>
    private static double RssMb()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Measure.ProcStatusMb("VmRSS");
    }

    private static double Round(double v, int digits = 1) => Math.Round(v, digits);

    private static void PrintTable(JsonObject result)
    {
        Console.WriteLine("| figure | sample | mid |");
        Console.WriteLine("|---|---:|---:|");
        var s = result["configs"]!["sample"]!;
        var m = result["configs"]!["mid"]!;
        void Row(string label, Func<JsonNode, string> value) => Console.WriteLine($"| {label} | {value(s)} | {value(m)} |");
        Row("data windows/s (best of 0 and 2 workers)", f => $"{f["data_windows_per_s"]}");
        Row("train windows/s", f => $"{f["train_windows_per_s"]}");
        Row("train step ms, ours / PyTorch", f => $"{f["train_step_ms"]!["ours"]} / {f["train_step_ms"]!["pytorch"]}");
        Row("train_step_ratio", f => $"{f["train_step_ratio"]}");
        Row("chunk latency ms, ours / PyTorch", f => $"{f["chunk_latency_ms"]!["ours"]} / {f["chunk_latency_ms"]!["pytorch"]}");
        Row("backbone ms, ours / PyTorch", f => $"{f["backbone_ms"]!["ours"]} / {f["backbone_ms"]!["pytorch"]}");
        Row("chunk_latency_ratio", f => $"{f["chunk_latency_ratio"]}");
        Row("train step GFLOP (matmul)", f => $"{f["train_step_gflop"]}");
        Row("mfu", f => $"{f["mfu"]}");
        Row("peak RSS MB", f => $"{f["peak_rss_mb"]}");
        Row("RSS growth MB over 200 steps", f => $"{f["rss_growth_mb_200_steps"]?.ToString() ?? "–"}");
        var ps = result["precision"]!["sample"]!;
        var pm = result["precision"]!["mid"]!;
        void Precision(string label, Func<JsonNode, string> value) => Console.WriteLine($"| {label} | {value(ps)} | {value(pm)} |");
        Precision("train step ms, fp32 / bf16", f => $"{f["fp32_train_ms"]} / {f["bf16_train_ms"]}");
        Precision("bf16_over_fp32_train_step", f => $"{f["bf16_over_fp32_train_step"]}");
        Precision("chunk ms, fp32 / bf16", f => $"{f["fp32_chunk_ms"]} / {f["bf16_chunk_ms"]}");
        Precision("bf16_over_fp32_chunk", f => $"{f["bf16_over_fp32_chunk"]}");
        Precision("backbone (once per chunk) ms, fp32 / bf16", f => $"{f["fp32_backbone_ms"]} / {f["bf16_backbone_ms"]}");
        Precision("bf16 train step ms, ours / PyTorch", f => $"{f["bf16_train_ms"]} / {f["pytorch_bf16_train_ms"]}");
        Precision("train_step_ratio_bf16", f => $"{f["train_step_ratio_bf16"]}");
        Precision("mfu_bf16", f => $"{f["mfu_bf16"]}");
    }
}
