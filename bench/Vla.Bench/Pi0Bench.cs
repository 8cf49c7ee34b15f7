using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Data.Loading;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Tokenization;
using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>
/// Full-size pi0 on this machine (bench part <c>pi0</c>): a LeRobot pi0 folder of the released shape with random weights
/// (BF16 projections, float32 vision path and norms, three 224 px cameras) is written to a temporary folder (deleted
/// afterwards); each phase runs in its own process so its peak resident memory (VmHWM) is its own: loading and a chunk in
/// bfloat16 and in float32 (one at a time: two float32 copies do not fit), a chunk in bfloat16 paired against the PyTorch
/// twin (bench/pytorch/pi0_twin.py, both resident, runs alternating), and fine-tuning steps at batch 1 with LoRA on
/// PaliGemma (rank 16) and on the expert (rank 32), as openpi's gemma_2b_lora + gemma_300m_lora, and with the expert
/// trained fully. Writes <c>pi0</c> into latest.json.
/// </summary>
internal static class Pi0Bench
{
    private const string Prompt = "pick up the red cube and put it in the bowl";

    public static void Run(string repoRoot)
    {
        string folder = Directory.CreateTempSubdirectory("vla-pi0-").FullName;
        try
        {
            var written = Phase(repoRoot, "write", folder);
            var bf16 = Phase(repoRoot, "infer-bfloat16", folder);
            var f32 = Phase(repoRoot, "infer-float32", folder);
            var paired = Phase(repoRoot, "compare", folder);
            var lora = Phase(repoRoot, "lora", folder);
            var expert = Phase(repoRoot, "lora-expert-full", folder);
            double weightsGb = written["weights_bytes"]!.GetValue<double>() / 1e9;
            var result = new JsonObject
            {
                ["threads"] = get_num_threads(),
                ["parameters"] = written["parameters"]!.GetValue<long>(),
                ["weights_gb"] = Round(weightsGb),
                ["load_goal_gb"] = Round(1.15 * weightsGb + 1),
                ["bfloat16"] = bf16,
                ["float32"] = f32,
                ["paired_bfloat16"] = paired,
                ["lora_vlm16_expert32"] = lora,
                ["lora_vlm16_expert_full"] = expert,
            };
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            BenchRecord.Merge(repoRoot, "pi0", result, quick: false, verb: "pi0");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static JsonObject Phase(string repoRoot, string phase, string folder) => Measure.Phase("pi0-phase", phase, folder);

    /// <summary>One phase, in this process (called by <see cref="Phase"/>).</summary>
    public static void RunPhase(string repoRoot, string phase, string folder)
    {
        var figures = phase switch
        {
            "write" => Write(folder),
            "infer-bfloat16" => Infer(folder, ScalarType.BFloat16),
            "infer-float32" => Infer(folder, ScalarType.Float32),
            "compare" => Compare(repoRoot, folder),
            "lora" => Step(folder, expertRank: 32),
            "lora-expert-full" => Step(folder, expertRank: 0),
            _ => throw new ArgumentException($"unknown pi0 phase '{phase}'"),
        };
        Console.WriteLine(figures.ToJsonString());
    }

    /// <summary>The released shape with N(0, 0.02) projections (Gemma norms near 1, SigLIP's at 1), stored as LeRobot saves a bfloat16 policy.</summary>
    private static JsonObject Write(string folder)
    {
        var watch = Stopwatch.StartNew();
        var model = new Pi0Model(Pi0Config.Released(48), c => new Pi0Suffix(c), initialize: false);
        model.StoreIn(ScalarType.BFloat16);
        using var generator = new Generator(1207);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                if (name.Contains("layer_norm", StringComparison.Ordinal) || name.Contains("post_layernorm", StringComparison.Ordinal))
                    p.copy_(name.EndsWith(".weight", StringComparison.Ordinal) ? ones_like(p) : zeros_like(p));
                else if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.normal_(0, 0.1, generator);
                else p.normal_(0, 0.02, generator);
            }
        var stats = new NormalizationStats { State = Unit(8), Action = Unit(7) };
        using var policy = new Pi0Policy(model, new Pi0Transform(PaliGemmaTokenizer.Sample(), 48), cameras: 3, stateDim: 8, actionDim: 7);
        LeRobotPolicyWriter.Save(policy, stats, NormalizationMode.ZScore, ["observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb", "observation.images.right_wrist_0_rgb"], folder);
        return new JsonObject
        {
            ["write_s"] = watch.Elapsed.TotalSeconds, ["weights_bytes"] = new FileInfo(Path.Combine(folder, "model.safetensors")).Length,
            ["parameters"] = model.parameters().Sum(p => p.numel()),
        };
    }

    private static DimensionStats Unit(int dim) => new()
    {
        Mean = new float[dim], Std = Enumerable.Repeat(1f, dim).ToArray(), Min = Enumerable.Repeat(-1f, dim).ToArray(), Max = Enumerable.Repeat(1f, dim).ToArray(), Count = 0,
    };

    /// <summary>Three random 224 px cameras, the prompt as pi0 tokenizes it (48 tokens with padding), a random state.</summary>
    private static PolicyInput Input(Pi0Policy policy)
    {
        var tokens = policy.Transform.EncodePrompts([Prompt], new float[policy.Spec.StateDim]);
        using var generator = new Generator(2);
        return new PolicyInput(rand([1, 3, 3, 224, 224], generator: generator) * 2 - 1, tensor(tokens.Ids, [1, tokens.Length]),
            tensor(tokens.Mask, [1, tokens.Length]), randn([1, policy.Spec.StateDim], generator: generator));
    }

    /// <summary>Load time and peak, then chunks: one warm-up and the median of two.</summary>
    private static JsonObject Infer(string folder, ScalarType dtype)
    {
        var watch = Stopwatch.StartNew();
        using var policy = LeRobotPolicyFolder.Load(folder, dtype: dtype).Policy;
        double loadS = watch.Elapsed.TotalSeconds, loadPeak = Measure.PeakRssGb();
        using var scope = NewDisposeScope();
        var input = Input(policy);
        var runs = Enumerable.Range(0, 3).Select(_ => ChunkSeconds(policy, input)).ToArray();
        return new JsonObject
        {
            ["dtype"] = ModelDtype.Name(dtype), ["load_s"] = Round(loadS), ["load_peak_rss_gb"] = Round(loadPeak), ["chunk_first_s"] = Round(runs[0]),
            ["chunk_s"] = Round(Measure.Median(runs[1..])), ["peak_rss_gb"] = Round(Measure.PeakRssGb()),
        };
    }

    private static double ChunkSeconds(Pi0Policy policy, PolicyInput input)
    {
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        policy.SampleActions(input, 10);
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>Ours and the PyTorch twin in bfloat16, both resident, alternating: a warm-up each, then three pairs.</summary>
    private static JsonObject Compare(string repoRoot, string folder)
    {
        using var policy = LeRobotPolicyFolder.Load(folder, dtype: ScalarType.BFloat16).Policy;
        using var scope = NewDisposeScope();
        var input = Input(policy);
        using var twin = new PyTorchTwin(repoRoot, get_num_threads(), "pi0_twin.py");
        twin.Request(new JsonObject
        {
            ["op"] = "load", ["folder"] = folder, ["dtype"] = "bfloat16", ["threads"] = get_num_threads(),
            ["tokens"] = new JsonArray(input.TokenIds.data<long>().ToArray().Select(v => (JsonNode)v).ToArray()),
            ["token_mask"] = new JsonArray(input.TokenMask.data<bool>().ToArray().Select(v => (JsonNode)v).ToArray()),
        });
        double TwinSeconds() => twin.Request(new JsonObject { ["op"] = "chunk", ["runs"] = 1 })["chunk_ms"]![0]!.GetValue<double>() / 1000;
        ChunkSeconds(policy, input);
        TwinSeconds();
        var pairs = Enumerable.Range(0, 3).Select(_ => (Ours: ChunkSeconds(policy, input), Twin: TwinSeconds())).ToArray();
        double ours = Measure.Median(pairs.Select(p => p.Ours).ToArray()), theirs = Measure.Median(pairs.Select(p => p.Twin).ToArray());
        return new JsonObject
        {
            ["ours_s"] = Round(ours), ["pytorch_s"] = Round(theirs), ["ratio"] = Math.Round(ours / theirs, 3), ["goal"] = 0.8,
            ["pair_ratios"] = new JsonArray(pairs.Select(p => (JsonNode)Math.Round(p.Ours / p.Twin, 3)).ToArray()), ["pytorch"] = twin.Version,
        };
    }

    /// <summary>Fine-tuning steps at batch 1 (two cameras, a 50-step chunk) from the folder in bfloat16, gradient checkpointing on: a warm-up, then one measured.</summary>
    private static JsonObject Step(string folder, int expertRank)
    {
        var config = new VlaConfig
        {
            Data = new DataConfig { StateDim = 8, ImageSize = 224, BatchSize = 1 },
            Model = new ModelConfig
            {
                Policy = "pi0", Pretrained = folder,
                VlmConfig = new VlmConfig { UseAuxCamera = true, Dtype = "bfloat16", FreezeVisionTower = true },
                Lora = new LoraConfig { Rank = 16, Alpha = 16 },
                ExpertLora = new LoraConfig { Rank = expertRank, Alpha = expertRank },
                ActionHeadConfig = new ActionHeadConfig { Horizon = 50, PerActionDim = 7, ActionDim = 350, NumInferenceSteps = 10 },
            },
            Training = new TrainingConfig { GradientCheckpointing = true, Device = "cpu" },
        };
        var watch = Stopwatch.StartNew();
        using var policy = Pi0Factory.FromConfig(config, seed: 3, device: null);
        double loadS = watch.Elapsed.TotalSeconds;
        long total = policy.Module.parameters().Sum(p => p.numel()), trainable = policy.Module.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        using var scope = NewDisposeScope();
        var tokens = policy.Transform.EncodePrompts([Prompt], new float[8]);
        using var generator = new Generator(2);
        using var batch = new VlaBatch
        {
            Input = new PolicyInput(rand([1, 2, 3, 224, 224], generator: generator) * 2 - 1, tensor(tokens.Ids, [1, tokens.Length]), tensor(tokens.Mask, [1, tokens.Length]),
                randn([1, 8], generator: generator)),
            Actions = randn(1, 50, 7), ActionMask = ones(1, 50, ScalarType.Bool), Prompts = [Prompt], Windows = [new Window(0, 0)],
        };
        using var step = new TrainStep(policy, config);
        using var noise = new StepNoise(1);
        var times = Enumerable.Range(0, 2).Select(_ => step.Run(batch, noise, 2.5e-5).Times.Compute).ToArray();
        return new JsonObject
        {
            ["expert_lora_rank"] = expertRank, ["load_s"] = Round(loadS), ["trainable_parameters"] = trainable, ["trainable_fraction"] = Math.Round((double)trainable / total, 5),
            ["first_step_s"] = Round(times[0]), ["step_s"] = Round(times[1]), ["peak_rss_gb"] = Round(Measure.PeakRssGb()), ["goal_gb"] = expertRank > 0 ? 12 : null,
        };
    }

    private static double Round(double value) => Math.Round(value, 2);
}
