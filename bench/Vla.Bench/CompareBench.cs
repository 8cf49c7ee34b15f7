using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using Vla.Runtime;
using Vla.Training;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Bench;

/// <summary>
/// The side-by-side suite (bench/README.md, "Against PyTorch"): for the sample and the mid config, data
/// pipeline throughput, the training step (batch 8, forward + backward + AdamW) and one action chunk
/// (batch 1, 10 Euler steps) here and in the PyTorch twin, MFU, peak memory and RSS growth over 200
/// steps; merges its section <c>compare</c> into bench/results/latest.json.
/// </summary>
internal static class CompareBench
{
    private const int Batch = 8, Cameras = 2, RssSteps = 200;

    /// <summary>Pause before each measured block.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);

    /// <summary>Euler steps of the chunk both sides sample.</summary>
    public const int EulerSteps = 10;

    /// <summary>
    /// Step and call counts. After <paramref name="Warmup"/> unrecorded steps (and chunks) on each side, <paramref name="Pairs"/>
    /// pairs alternate the sides, each side running <paramref name="PerPair"/> steps (or chunks) in a block whose median
    /// is its figure for the pair. RSS growth is counted from step <paramref name="RssWarmup"/> on: the first tens of steps
    /// grow the allocators' caches (a one-off, seen as a plateau in rss_mb_every_50_steps). The data pipeline's rate is
    /// the median of <paramref name="DataRuns"/> epochs.
    /// </summary>
    private sealed record Runs(int Warmup, int Pairs, int PerPair, int RssWarmup, int RssSteps, int DataRuns = 1);

    public static async Task RunAsync(string repoRoot, bool quick, string? only = null)
    {
        int threads = get_num_threads();
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var (sample, sampleBackbone) = ConfigNamed(repoRoot, "sample");
        var (mid, midBackbone) = ConfigNamed(repoRoot, "mid");
        var configs = new[]
        {
            // Quick mode takes about 4 min 30 s: the sample's allocator caches settle within 50 steps (bench/README.md, change 1).
            ("sample", sample, sampleBackbone, quick ? new Runs(3, 11, 3, 50, RssSteps) : new Runs(3, 15, 5, 100, RssSteps, DataRuns: 3)),
            ("mid", mid, midBackbone, quick ? new Runs(1, 3, 1, 0, 0) : new Runs(2, 5, 1, 20, RssSteps, DataRuns: 3)),
        }.Where(c => only is null || c.Item1 == only).ToArray();
        if (configs.Length == 0) throw new ArgumentException($"--config must be sample or mid (got '{only}')");
        Console.WriteLine($"threads: {threads}, batch {Batch}, {Cameras} cameras, float32 then bfloat16, {(quick ? "quick" : "full")} mode; " +
                          "ours and the PyTorch twin alternate, a ratio per pair");
        using var twin = new PyTorchTwin(repoRoot, threads);
        Console.WriteLine($"PyTorch twin: {twin.Version}, BLAS {twin.Blas}");
        // This host is shared: the matmul rate moves with the neighbours' load, so it is sampled before, between
        // and after the configs and the best sample is the machine's limit that MFU divides by.
        var gflops = new Dictionary<string, (List<double> Ours, List<double> Twin)> { ["float32"] = ([], []), ["bfloat16"] = ([], []) };
        void SampleMatmul(string dtype)
        {
            gflops[dtype].Ours.Add(MatmulGflops(dtype: dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32));
            gflops[dtype].Twin.Add(twin.MatmulGflops(dtype));
        }
        SampleMatmul("float32");
        Console.WriteLine($"matmul 1024² float32: {gflops["float32"].Ours[0]:F0} GFLOP/s, PyTorch {gflops["float32"].Twin[0]:F0} (TorchSharp {typeof(torch).Assembly.GetName().Version})");

        var figures = new Dictionary<string, ConfigFigures>();
        var bf16Figures = new Dictionary<string, ConfigFigures>();
        foreach (var dtype in new[] { "float32", "bfloat16" })
        {
            if (dtype == "bfloat16") SampleMatmul("bfloat16");
            foreach (var (name, config, backbone, runs) in configs)
            {
                var watch = Stopwatch.StartNew();
                var typed = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { Dtype = dtype } } };
                bool fp32 = dtype == "float32";
                var figs = await MeasureAsync(name, typed, backbone, tokenizer, fp32 ? runs : runs with { RssSteps = 0 }, twin, dataAndMemory: fp32);
                (fp32 ? figures : bf16Figures)[name] = figs;
                SampleMatmul(dtype);
                Console.WriteLine($"{name} in {dtype}: measured in {watch.Elapsed.TotalSeconds:F0} s; train step {Pair(figs.TrainStep)}, chunk {Pair(figs.Chunk)}");
                foreach (var (figure, paired) in new[] { ("train_step", figs.TrainStep), ("chunk_latency", figs.Chunk) })
                    Console.WriteLine($"  {figure} pairs, ours | PyTorch ms: {string.Join(", ", paired.OursMs.Select(v => Round(v)))} | {string.Join(", ", paired.TwinMs.Select(v => Round(v)))}");
            }
        }
        double oursGflops = gflops["float32"].Ours.Max(), oursBf16Gflops = gflops["bfloat16"].Ours.Max();
        var precision = configs.ToDictionary(c => c.Item1, c => new PrecisionFigures(figures[c.Item1], bf16Figures[c.Item1], oursBf16Gflops));

        JsonArray Samples(List<double> values) => new(values.Select(g => JsonValue.Create(Round(g, 1))).ToArray());
        var result = new JsonObject
        {
            ["threads"] = threads,
            ["pytorch_version"] = twin.Version,
            ["pytorch_blas"] = twin.Blas,
            ["matmul_gflops"] = new JsonObject { ["ours"] = Round(oursGflops, 1), ["pytorch"] = Round(gflops["float32"].Twin.Max(), 1) },
            ["matmul_gflops_samples"] = new JsonObject { ["ours"] = Samples(gflops["float32"].Ours), ["pytorch"] = Samples(gflops["float32"].Twin) },
            ["matmul_gflops_bf16"] = new JsonObject { ["ours"] = Round(oursBf16Gflops, 1), ["pytorch"] = Round(gflops["bfloat16"].Twin.Max(), 1) },
            ["matmul_gflops_bf16_samples"] = new JsonObject { ["ours"] = Samples(gflops["bfloat16"].Ours), ["pytorch"] = Samples(gflops["bfloat16"].Twin) },
            ["configs"] = new JsonObject(figures.Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value.ToJson(oursGflops)))),
            ["precision"] = new JsonObject(precision.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value.ToJson()))),
        };
        Console.WriteLine();
        PrintTable(figures, precision, oursGflops);
        if (only is not null)
        {
            Console.WriteLine($"\n--config {only}: one config measured, results/latest.json left as it was");
            return;
        }
        BenchRecord.Merge(repoRoot, "compare", result, quick);
    }

    /// <summary>"ours / PyTorch ms, ratio (min–max over pairs)" of one paired figure.</summary>
    private static string Pair(Paired paired) =>
        $"{Round(paired.Ours)} / {Round(paired.Twin)} ms, ratio {Round(paired.Ratio, 3)} ({paired.SpreadText})";

    /// <summary>Training steps of one config with the RSS every 50 steps: for chasing memory growth.</summary>
    public static async Task RssProbeAsync(string repoRoot, string name, int steps)
    {
        var (config, backbone) = ConfigNamed(repoRoot, name);
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var figures = await MeasureAsync(name, config, backbone, tokenizer, new Runs(3, 3, 1, name == "mid" ? 20 : 100, steps), twin: null);
        Console.WriteLine($"{name}: RSS every 50 steps {string.Join(", ", figures.RssTrace.Select(v => Round(v)))}, growth {(figures.RssGrowthMb is double g ? Round(g) : double.NaN)} MB over {steps} steps");
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
        new BatchLoader(dataset, normalizer, Layout(config),
            new LoaderOptions { BatchSize = Batch, NumWorkers = 0, Seed = 1, Transform = new PaliGemmaFlowTransform(tokenizer, config.Data.PromptMaxLen) }).Epoch(0).First();

    /// <summary>The batch layout of the policy <paramref name="config"/> describes.</summary>
    internal static BatchLayout Layout(VlaConfig config) => BatchLayout.Of(VlaModelConfig.From(config).Spec);

    /// <summary>
    /// One config in its dtype, ours and (unless <paramref name="twin"/> is null) the twin's, alternating: the training step,
    /// then the chunk, each as paired blocks with a ratio per pair; with <paramref name="dataAndMemory"/>, also the data
    /// pipeline and memory figures (ours only).
    /// </summary>
    private static async Task<ConfigFigures> MeasureAsync(string name, VlaConfig config, PaliGemmaConfig backbone,
        PaliGemmaTokenizer tokenizer, Runs runs, PyTorchTwin? twin, bool dataAndMemory = true)
    {
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        var normalizer = new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax);
        var layout = Layout(config);
        double dataRate = dataAndMemory ? new[] { 0, 2 }.Max(workers => DataWindowsPerSecond(dataset, normalizer, layout, workers, runs.DataRuns)) : double.NaN;

        using var batch = FirstBatch(dataset, normalizer, config, tokenizer);
        var tokens = tokenizer.EncodeBatch(batch.Prompts, config.Data.PromptMaxLen);
        using var model = SeededModel(config, backbone);
        using var trainStep = new TrainStep(model, config);
        using var noise = new StepNoise(1);
        using var generator = new Generator(1);
        string key = $"{name}_{config.Model.VlmConfig.Dtype}";
        long? twinParams = twin?.Load(key, PyTorchTwin.ConfigSpec(name, config, backbone, Batch, Cameras, tokens.Ids, tokens.Mask, tokens.Length));

        // Our training steps, counted for the RSS trace: sampled every 50 steps and at the end of the warm-up.
        var phases = new List<double[]>();
        double rssAfterWarmup = 0;
        var rssTrace = new List<double>();
        int stepsDone = 0;
        double OurStep()
        {
            if (stepsDone == runs.RssWarmup) rssAfterWarmup = RssMb();
            if (runs.RssSteps > 0 && stepsDone % 50 == 0) rssTrace.Add(RssMb());
            stepsDone++;
            var times = trainStep.Run(batch, noise, config.Optimizer.Lr).Times;
            double[] split = [1000 * times.Forward, 1000 * times.Backward, 1000 * times.Optimizer];
            phases.Add(split);
            return split.Sum();
        }
        for (int i = 0; i < runs.Warmup; i++) OurStep();
        twin?.Train(key, runs.Warmup);
        phases.Clear();
        var step = Interleave(runs, () => Measure.Median(Enumerable.Range(0, runs.PerPair).Select(_ => OurStep()).ToArray()),
            twin is null ? null : () => Measure.Median(twin.Train(key, runs.PerPair)));
        var stepPhases = phases.ToArray(); // the paired steps' split; the RSS trace's further steps are not timed figures
        while (stepsDone < runs.RssWarmup + runs.RssSteps) OurStep();
        double rssGrowth = runs.RssSteps > 0 ? RssMb() - rssAfterWarmup : double.NaN;
        if (runs.RssSteps > 0) rssTrace.Add(RssMb());
        double flops = MatmulFlops.TrainStep(config, backbone, Batch, Cameras, tokens.Length);

        model.eval();
        using var one = BatchOf(batch, 1);
        var oneInput = one.Input;
        var backboneMs = new List<double>();
        var twinBackboneMs = new List<double>();
        Paired chunk;
        using (no_grad())
        {
            double OurChunk()
            {
                var watch = Stopwatch.StartNew();
                using (NewDisposeScope()) model.EncodeContext(oneInput);
                backboneMs.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                using (NewDisposeScope()) model.SampleActions(oneInput, EulerSteps, generator: generator);
                return watch.Elapsed.TotalMilliseconds;
            }
            double TwinChunk()
            {
                var (chunkMs, twinBackbone) = twin!.Chunk(key, runs.PerPair);
                twinBackboneMs.AddRange(twinBackbone);
                return Measure.Median(chunkMs);
            }
            for (int i = 0; i < runs.Warmup; i++) OurChunk();
            twin?.Chunk(key, runs.Warmup);
            backboneMs.Clear();
            chunk = Interleave(runs, () => Measure.Median(Enumerable.Range(0, runs.PerPair).Select(_ => OurChunk()).ToArray()), twin is null ? null : TwinChunk);
        }
        twin?.Drop(key);

        return new ConfigFigures
        {
            Dtype = config.Model.VlmConfig.Dtype, Batch = Batch, DataWindowsPerSecond = double.IsNaN(dataRate) ? null : dataRate,
            TrainStep = step, Chunk = chunk, Pairs = runs.Pairs, RunsPerPair = runs.PerPair, TrainStepFlop = flops,
            TrainStepSplit = (Measure.Median(stepPhases.Select(p => p[0]).ToArray()), Measure.Median(stepPhases.Select(p => p[1]).ToArray()),
                Measure.Median(stepPhases.Select(p => p[2]).ToArray())),
            BackboneMs = Measure.Median([.. backboneMs]), TwinBackboneMs = twinBackboneMs.Count == 0 ? null : Measure.Median([.. twinBackboneMs]),
            PeakRssMb = BackboneBench.PeakRssMb(), RssGrowthMb = double.IsNaN(rssGrowth) ? null : rssGrowth, RssTrace = rssTrace,
            RssNote = double.IsNaN(rssGrowth)
                ? "measured in full mode only (210 steps of this config take about 40 minutes here)"
                : $"RSS after step {runs.RssWarmup + runs.RssSteps} minus RSS after step {runs.RssWarmup} (after a full GC each time)",
            Params = model.parameters().Sum(p => p.numel()), TwinParams = twinParams,
        };
    }

    /// <summary>
    /// <paramref name="runs"/>.Pairs pairs of one block on each side, the side going first alternating from pair to pair so
    /// that neither always runs right after the other; without a twin, our blocks only.
    /// </summary>
    private static Paired Interleave(Runs runs, Func<double> ours, Func<double>? twin)
    {
        var o = new double[runs.Pairs];
        var t = new double[twin is null ? 0 : runs.Pairs];
        // Each block starts after a pause in which the other side's idle threads stop spinning (OpenBLAS's spin for about
        // 0.1 s after a call, libgomp's for less), so neither side pays for the other's.
        double Settled(Func<double> side) { Thread.Sleep(Settle); return side(); }
        for (int i = 0; i < runs.Pairs; i++)
        {
            if (twin is not null && i % 2 == 1) t[i] = Settled(twin);
            o[i] = Settled(ours);
            if (twin is not null && i % 2 == 0) t[i] = Settled(twin);
        }
        return new Paired(o, t);
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
        Input = new PolicyInput(batch.Input.Images[..size].clone(), batch.Input.TokenIds[..size].clone(), batch.Input.TokenMask[..size].clone(), batch.Input.State[..size].clone()),
        Actions = batch.Actions[..size].clone(), ActionMask = batch.ActionMask[..size].clone(),
        Prompts = batch.Prompts[..size], Windows = batch.Windows[..size],
    };

    /// <summary>GFLOP/s of an (m × k) · (k × n) product in <paramref name="dtype"/>: the median of <paramref name="runs"/> after 3 unrecorded.</summary>
    internal static double MatmulGflops(int m = 1024, int k = 1024, int n = 1024, ScalarType dtype = ScalarType.Float32, int runs = 20)
    {
        using var guard = NativeCallGuard.Enter(); // its OpenMP team is released after: the next config may run on another thread
        using var scope = NewDisposeScope();
        var a = randn(m, k).to_type(dtype);
        var b = randn(k, n).to_type(dtype);
        double seconds = Measure.Median(Measure.Seconds(() => { using var s = NewDisposeScope(); matmul(a, b); }, runs, 3));
        return 2.0 * m * k * n / seconds / 1e9;
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

    private static void PrintTable(Dictionary<string, ConfigFigures> figures, Dictionary<string, PrecisionFigures> precision, double gflops)
    {
        var names = figures.Keys.ToArray();
        Console.WriteLine($"| figure | {string.Join(" | ", names)} |");
        Console.WriteLine($"|---|{string.Concat(names.Select(_ => "---:|"))}");
        void Row(string label, Func<ConfigFigures, string> value) => Console.WriteLine($"| {label} | {string.Join(" | ", names.Select(n => value(figures[n])))} |");
        void Precision(string label, Func<PrecisionFigures, string> value) => Console.WriteLine($"| {label} | {string.Join(" | ", names.Select(n => value(precision[n])))} |");
        static string R(double v, int digits = 1) => Round(v, digits).ToString(CultureInfo.InvariantCulture);
        Row("data windows/s (best of 0 and 2 workers)", f => f.DataWindowsPerSecond is double d ? R(d) : "–");
        Row("train windows/s", f => R(f.TrainWindowsPerSecond, 2));
        Row("train step ms, ours / PyTorch", f => $"{R(f.TrainStep.Ours)} / {R(f.TrainStep.Twin)}");
        Row("train_step_ratio (min–max over pairs)", f => $"{R(f.TrainStep.Ratio, 3)} ({f.TrainStep.SpreadText})");
        Row("chunk latency ms, ours / PyTorch", f => $"{R(f.Chunk.Ours)} / {R(f.Chunk.Twin)}");
        Row("backbone ms, ours / PyTorch", f => $"{R(f.BackboneMs)} / {(f.TwinBackboneMs is double t ? R(t) : "–")}");
        Row("chunk_latency_ratio (min–max over pairs)", f => $"{R(f.Chunk.Ratio, 3)} ({f.Chunk.SpreadText})");
        Row("train step GFLOP (matmul)", f => R(f.TrainStepFlop / 1e9, 2));
        Row("mfu", f => R(f.Mfu(gflops), 3));
        Row("peak RSS MB", f => R(f.PeakRssMb));
        Row("RSS growth MB over 200 steps", f => f.RssGrowthMb is double g ? R(g) : "–");
        Precision("train step ms, fp32 / bf16", p => $"{R(p.Fp32.TrainStep.Ours)} / {R(p.Bf16.TrainStep.Ours)}");
        Precision("bf16_over_fp32_train_step", p => R(p.Bf16OverFp32Step, 3));
        Precision("chunk ms, fp32 / bf16", p => $"{R(p.Fp32.Chunk.Ours)} / {R(p.Bf16.Chunk.Ours)}");
        Precision("bf16_over_fp32_chunk", p => R(p.Bf16OverFp32Chunk, 3));
        Precision("backbone (once per chunk) ms, fp32 / bf16", p => $"{R(p.Fp32.BackboneMs)} / {R(p.Bf16.BackboneMs)}");
        Precision("bf16 train step ms, ours / PyTorch", p => $"{R(p.Bf16.TrainStep.Ours)} / {R(p.Bf16.TrainStep.Twin)}");
        Precision("train_step_ratio_bf16 (min–max over pairs)", p => $"{R(p.Bf16.TrainStep.Ratio, 3)} ({p.Bf16.TrainStep.SpreadText})");
        Precision("bf16 chunk ms, ours / PyTorch", p => $"{R(p.Bf16.Chunk.Ours)} / {R(p.Bf16.Chunk.Twin)}");
        Precision("chunk_latency_ratio_bf16 (min–max over pairs)", p => $"{R(p.Bf16.Chunk.Ratio, 3)} ({p.Bf16.Chunk.SpreadText})");
        Precision("mfu_bf16", p => R(p.Fp32.TrainStepFlop / 1e9 / (p.Bf16.TrainStep.Ours / 1000) / p.Bf16Gflops, 3));
    }
}
