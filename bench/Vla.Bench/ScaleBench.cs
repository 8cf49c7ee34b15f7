using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Training;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Bench;

/// <summary>
/// PaliGemma-3B's real shape (<see cref="PaliGemmaConfig.Pt224"/>) on this machine: a Hugging Face folder of random
/// BF16 weights is written to a temporary folder (deleted afterwards); each phase then runs in its own process so
/// its peak resident memory (VmHWM) is its own: loading + a caption's first token + one action chunk; LoRA
/// training steps (rank 16, batch 1, frozen bf16 base) with gradient checkpointing and without, and at batch 4 with it. The full
/// fine-tune's memory is computed from the tensors it would hold. Writes <c>paligemma_3b</c> into latest.json.
/// </summary>
internal static class ScaleBench
{
    private const int LoraRank = 16;

    public static void Run(string repoRoot)
    {
        string folder = Directory.CreateTempSubdirectory("vla-scale-").FullName;
        try
        {
            var written = Phase(repoRoot, "write", folder);
            var inference = Phase(repoRoot, "infer", folder);
            var withCheckpointing = Phase(repoRoot, "lora-checkpointing", folder);
            var without = Phase(repoRoot, "lora", folder);
            var batch4 = Phase(repoRoot, "lora-checkpointing-batch4", folder);
            var config = PaliGemmaConfig.Pt224();
            long parameters = config.ParameterCount;
            double weightsGb = Number(written, "weights_bytes") / 1e9;
            // Our mixed-precision full fine-tune holds per parameter: bf16 weight and gradient (2 + 2 bytes), a float32
            // master and its gradient (4 + 4), AdamW's two float32 moments (8): 20 bytes, plus the activations the
            // LoRA step without checkpointing measured: its peak above the loaded weights, less the LoRA run's own
            // trained float32 tensors, their gradients and AdamW moments (16 bytes each).
            double activationsGb = Number(without, "peak_rss_gb") - Number(inference, "load_peak_rss_gb") - Number(withCheckpointing, "trainable_parameters") * 16 / 1e9;
            double fullFineTuneGb = parameters * 20.0 / 1e9 + Math.Max(0, activationsGb);
            var result = new JsonObject
            {
                ["threads"] = torch.get_num_threads(),
                ["parameters"] = parameters,
                ["weights_gb_bf16"] = Round(weightsGb),
                ["write_s"] = Round(Number(written, "write_s")),
                ["load_s"] = Round(Number(inference, "load_s")),
                ["load_peak_rss_gb"] = Round(Number(inference, "load_peak_rss_gb")),
                ["caption_first_token_s"] = Round(Number(inference, "caption_first_token_s")),
                ["caption_first_token_warm_s"] = Round(Number(inference, "caption_first_token_warm_s")),
                ["chunk_latency_s"] = Round(Number(inference, "chunk_latency_s")),
                ["backbone_s"] = Round(Number(inference, "backbone_s")),
                ["head_10_steps_s"] = Math.Round(Number(inference, "head_10_steps_s"), 3),
                ["lora_trainable_fraction"] = Math.Round(Number(withCheckpointing, "trainable_fraction"), 5),
                ["lora_trainable_parameters"] = (long)Number(withCheckpointing, "trainable_parameters"),
                ["lora_step_s"] = Round(Number(withCheckpointing, "step_s")),
                ["lora_step_peak_rss_gb"] = Round(Number(withCheckpointing, "peak_rss_gb")),
                ["lora_step_s_no_checkpointing"] = Round(Number(without, "step_s")),
                ["lora_step_peak_rss_gb_no_checkpointing"] = Round(Number(without, "peak_rss_gb")),
                ["lora_step_s_batch4"] = Round(Number(batch4, "step_s")),
                ["lora_step_peak_rss_gb_batch4"] = Round(Number(batch4, "peak_rss_gb")),
                ["full_finetune_estimate_gb"] = Round(fullFineTuneGb),
            };
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            BenchRecord.Merge(repoRoot, "paligemma_3b", result, quick: false, verb: "scale");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static JsonObject Phase(string repoRoot, string phase, string folder) => Measure.Phase("scale-phase", phase, folder);

    /// <summary>One phase, in this process (called by <see cref="Phase"/>).</summary>
    public static void RunPhase(string repoRoot, string phase, string folder)
    {
        var figures = phase switch
        {
            "write" => Write(repoRoot, folder),
            "infer" => Infer(repoRoot, folder),
            "lora-checkpointing" => LoraStep(repoRoot, folder, checkpointing: true),
            "lora" => LoraStep(repoRoot, folder, checkpointing: false),
            "lora-checkpointing-batch4" => LoraStep(repoRoot, folder, checkpointing: true, batch: 4, measured: 1),
            _ => throw new ArgumentException($"unknown scale phase '{phase}'"),
        };
        Console.WriteLine(figures.ToJsonString());
    }

    /// <summary>The Hugging Face folder: config.json, BF16 weights initialized as Hugging Face does, the sample tokenizer (ids below 300 exist in any vocabulary).</summary>
    private static JsonObject Write(string repoRoot, string folder)
    {
        var watch = Stopwatch.StartNew();
        using (var backbone = new PaliGemmaBackbone(PaliGemmaConfig.Pt224(), ScalarType.BFloat16, initialize: false)) // InitializeWeights draws every value
        {
            backbone.InitializeWeights(1);
            ModelWeights.SaveBackbone(backbone, folder);
        }
        File.Copy(Path.Combine(repoRoot, "data-samples", "tiny-paligemma", "tokenizer.model"), Path.Combine(folder, "tokenizer.model"));
        return new JsonObject { ["write_s"] = watch.Elapsed.TotalSeconds, ["weights_bytes"] = new FileInfo(Path.Combine(folder, "model.safetensors")).Length };
    }

    /// <summary>The run config of a 3B policy: configs/paligemma_3b_lora.yaml with its model folder replaced.</summary>
    private static VlaConfig Config(string repoRoot, string folder, bool checkpointing)
    {
        var config = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "paligemma_3b_lora.yaml"));
        return config with
        {
            Data = config.Data with { BatchSize = 1, TokenizerNameOrPath = folder },
            Model = config.Model with { VlmConfig = config.Model.VlmConfig with { ModelNameOrPath = folder }, Lora = config.Model.Lora with { Rank = LoraRank } },
            Training = config.Training with { GradientCheckpointing = checkpointing, Device = "cpu" },
        };
    }

    private const string Prompt = "pick up the red cube and put it in the bowl";

    private static PolicyInput Input(VlaConfig config, PaliGemmaTokenizer tokenizer, int batch = 1)
    {
        var tokens = tokenizer.EncodeBatch(Enumerable.Repeat(Prompt, batch).ToList(), config.Data.PromptMaxLen);
        using var generator = new Generator(2);
        return new PolicyInput(rand([batch, 1, 3, 224, 224], generator: generator) * 2 - 1, tensor(tokens.Ids, [batch, tokens.Length]),
            tensor(tokens.Mask, [batch, tokens.Length]), randn([batch, config.Data.StateDim], generator: generator));
    }

    private static JsonObject Infer(string repoRoot, string folder)
    {
        var watch = Stopwatch.StartNew();
        var backbone = ModelWeights.LoadBackbone(folder, ScalarType.BFloat16);
        double loadS = watch.Elapsed.TotalSeconds;
        double loadPeak = Measure.PeakRssGb();
        backbone.eval();
        var tokenizer = PaliGemmaTokenizer.Load(folder);
        var config = Config(repoRoot, folder, checkpointing: false);
        using var scope = NewDisposeScope();
        var input = Input(config, tokenizer);

        // The first token of a caption: cold (the process's first forward, what `vla caption` waits for) and warm.
        var captions = Enumerable.Range(0, 3).Select(run =>
        {
            watch.Restart();
            backbone.GenerateGreedy(input.Images, tokenizer.EncodePrompt("caption en", 16, out _), maxNewTokens: 1);
            return watch.Elapsed.TotalSeconds;
        }).ToArray();

        var model = Checkpoints.ModelFactory.Seeded(VlaModelConfig.From(config with { Model = config.Model with { Lora = new LoraConfig() } }), backbone, tokenizer, seed: 3);
        model.eval();
        // A chunk as SampleActions computes it (backbone once, then 10 Euler steps of the head), timed in two parts
        // within each run so the split is consistent; the first run is a warm-up.
        var runs = Enumerable.Range(0, 6).Select(_ =>
        {
            using var s = NewDisposeScope();
            using var g = no_grad();
            var watch = Stopwatch.StartNew();
            var (context, mask) = model.EncodeContext(input);
            double backbone = watch.Elapsed.TotalSeconds;
            var noise = FlowMatching.SampleNoise([1, config.Model.ActionHeadConfig.Horizon, config.Model.ActionHeadConfig.PerActionDim]);
            EulerIntegrator.Integrate((x, t) => model.DenoiseStep(x, t, context, mask), noise, 10);
            return (Backbone: backbone, Chunk: watch.Elapsed.TotalSeconds);
        }).Skip(1).ToArray();
        return new JsonObject
        {
            ["load_s"] = loadS, ["load_peak_rss_gb"] = loadPeak, ["caption_first_token_s"] = captions[0], ["caption_first_token_warm_s"] = Measure.Median(captions[1..]),
            ["backbone_s"] = Measure.Median(runs.Select(r => r.Backbone).ToArray()), ["chunk_latency_s"] = Measure.Median(runs.Select(r => r.Chunk).ToArray()),
            ["head_10_steps_s"] = Measure.Median(runs.Select(r => r.Chunk - r.Backbone).ToArray()), ["peak_rss_gb"] = Measure.PeakRssGb(),
        };
    }

    /// <summary>LoRA training steps at <paramref name="batch"/>: the first (warm-up), then the median of the next <paramref name="measured"/>.</summary>
    private static JsonObject LoraStep(string repoRoot, string folder, bool checkpointing, int batch = 1, int measured = 2)
    {
        var config = Config(repoRoot, folder, checkpointing);
        var model = (VlaModel)Checkpoints.ModelFactory.FromConfig(config, seed: 3);
        var tokenizer = model.Tokenizer;
        model.train();
        long total = model.parameters().Sum(p => p.numel());
        long trainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        using var scope = NewDisposeScope();
        var input = Input(config, tokenizer, batch);
        var head = config.Model.ActionHeadConfig;
        using var windows = new VlaBatch
        {
            Input = input,
            Actions = randn(batch, head.Horizon, head.PerActionDim), ActionMask = ones(batch, head.Horizon, ScalarType.Bool),
            Prompts = [.. Enumerable.Repeat(Prompt, batch)], Windows = [.. Enumerable.Range(0, batch).Select(i => new Window(0, i))],
        };
        using var step = new TrainStep(model, config);
        using var noise = new StepNoise(1);
        var times = Enumerable.Range(0, 1 + measured).Select(_ => step.Run(windows, noise, config.Optimizer.Lr).Times.Compute).ToArray();
        return new JsonObject
        {
            ["checkpointing"] = checkpointing, ["batch"] = batch, ["step_s"] = Measure.Median(times[1..]), ["first_step_s"] = times[0],
            ["peak_rss_gb"] = Measure.PeakRssGb(), ["trainable_parameters"] = trainable, ["trainable_fraction"] = (double)trainable / total,
        };
    }

    private static double Number(JsonObject o, string key) => o[key]!.GetValue<double>();

    private static double Round(double value) => Math.Round(value, 2);
}
