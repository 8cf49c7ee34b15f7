using System.Text.Json.Nodes;
using Vla.Checkpoints;
using TorchSharp;
using Vla.Config;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Tokenization;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>
/// One action chunk for one observation (batch 1): the backbone runs once, the head once per Euler
/// step. Reports the split and the whole call for 1, 5, 10 and 50 steps.
/// </summary>
internal static class InferenceBench
{
    public static void Run(string repoRoot, bool quick)
    {
        int runs = quick ? 5 : 15;
        var sample = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        var mid = TrainingBench.Mid(sample);
        Console.WriteLine($"threads: {get_num_threads()}, batch 1, 2 cameras, medians of {runs} calls");
        Console.WriteLine();
        Console.WriteLine("| config | backbone + context ms | head step ms | 1 step ms | 5 steps ms | 10 steps ms | 50 steps ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var section = new JsonObject { ["runs"] = runs, ["threads"] = get_num_threads(), ["batch"] = 1, ["cameras"] = 2 };
        foreach (var (name, config, backbone) in new[] { ("sample", sample, PaliGemmaConfig.Sample()), ("mid", mid, TrainingBench.MidBackbone()) })
        {
            using var model = ModelFactory.Seeded(VlaModelConfig.From(config), new PaliGemmaBackbone(backbone), tokenizer, 1);
            model.eval();
            using var noGrad = no_grad();
            int size = config.Data.ImageSize;
            var tokens = tokenizer.EncodeBatch(["pick up the red cube"], config.Data.PromptMaxLen);
            var input = new PolicyInput(rand([1, 2, 3, size, size]) * 2 - 1, tensor(tokens.Ids, [1, tokens.Length]),
                tensor(tokens.Mask, [1, tokens.Length]), zeros(1, config.Data.StateDim));
            var head = config.Model.ActionHeadConfig;

            double backboneMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                model.EncodeContext(input);
            }, runs));
            var (context, mask) = model.EncodeContext(input);
            var x = randn(1, head.Horizon, head.PerActionDim);
            var t = full([1], 0.5f);
            double headMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                model.DenoiseStep(x, t, context, mask);
            }, runs * 4));
            var totals = new[] { 1, 5, 10, 50 }.Select(steps => 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                model.SampleActions(input, steps);
            }, runs))).ToArray();
            Console.WriteLine($"| {name} | {backboneMs:F2} | {headMs:F2} | {string.Join(" | ", totals.Select(v => v.ToString("F2")))} |");
            section[name] = new JsonObject
            {
                ["backbone_and_context_ms"] = Math.Round(backboneMs, 2), ["head_step_ms"] = Math.Round(headMs, 2),
                ["chunk_ms"] = new JsonObject(new[] { 1, 5, 10, 50 }.Select((steps, i) => KeyValuePair.Create($"{steps}_steps", (JsonNode?)Math.Round(totals[i], 2)))),
            };
        }
        BenchRecord.Merge(repoRoot, "predict", section, quick);
    }
}
