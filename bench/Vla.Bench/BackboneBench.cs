using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>
/// PaliGemma backbone on CPU: prefix forward time, and 8 greedy tokens with the KV cache against
/// recomputing the whole sequence for every token; peak resident memory after each configuration.
/// </summary>
internal static class BackboneBench
{
    /// <summary>A mid-size backbone: vision 6 × 384 (224 px, 256 tokens), text 6 × 512, 32 k vocabulary.</summary>
    public static PaliGemmaConfig Mid() => new()
    {
        Vision = new SiglipConfig { HiddenSize = 384, IntermediateSize = 1536, NumHiddenLayers = 6, NumAttentionHeads = 6, ImageSize = 224, PatchSize = 14 },
        Text = new GemmaConfig { VocabSize = 32000, HiddenSize = 512, IntermediateSize = 2048, NumHiddenLayers = 6, NumAttentionHeads = 8, NumKeyValueHeads = 1, HeadDim = 64 },
        ImageTokenIndex = 31999,
        ProjectionDim = 512,
    };

    public static void Run(string repoRoot, bool quick)
    {
        var section = new JsonObject { ["runs"] = quick ? 3 : 7, ["threads"] = torch.get_num_threads() };
        int runs = quick ? 3 : 7;
        Console.WriteLine($"threads: {torch.get_num_threads()}, runs: {runs}, prompt: 16 tokens, 1 camera, batch 1, float32");
        Console.WriteLine();
        Console.WriteLine("| config | params | prefix tokens | prefix forward ms | one-token forward ms | 8 tokens, cached: ms per token | 8 tokens, recomputed: ms per token | recomputed ÷ cached | peak RSS MB |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, config) in new[] { ("sample", PaliGemmaConfig.Sample()), ("mid", Mid()) })
        {
            using var model = new PaliGemmaBackbone(config);
            model.InitializeWeights(1);
            model.eval();
            var images = rand([1, 1, 3, config.Vision.ImageSize, config.Vision.ImageSize]) * 2 - 1;
            long[] prompt = [2, .. Enumerable.Range(10, 15).Select(i => (long)i)];
            int prefixTokens = config.NumImageTokens + prompt.Length;

            double prefixMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var ids = tensor(prompt, [1, prompt.Length]);
                using var prefix = model.EmbedPrefix(images, ids, ones_like(ids, ScalarType.Bool));
                model.EncodePrefix(prefix);
            }, runs));
            // Greedy decoding stops at EOS; with random weights it may, so time a fixed 8 steps by construction.
            double oneTokenMs = 1000 * Measure.Median(Measure.Seconds(() =>
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var token = model.LanguageModel.Embed(tensor(new[] { 2L }, [1, 1]));
                var hidden = model.LanguageModel.forward(token, tensor(new[] { 1L }, [1, 1]), ones(1, 1, 1, 1, ScalarType.Bool));
                model.LanguageModel.Logits(hidden[.., -1]).argmax(-1).item<long>();
            }, runs * 3));
            double cachedPerToken = 1000 * Measure.Median(Enumerable.Range(0, runs + 1).Select(_ => Decode(model, images, prompt, 8, cached: true)).Skip(1).ToArray()) / 8;
            double recomputedPerToken = 1000 * Measure.Median(Enumerable.Range(0, runs + 1).Select(_ => Decode(model, images, prompt, 8, cached: false)).Skip(1).ToArray()) / 8;
            Console.WriteLine($"| {name} | {config.ParameterCount / 1e6:F1} M | {prefixTokens} | {prefixMs:F1} | {oneTokenMs:F2} | {cachedPerToken:F2} | {recomputedPerToken:F2} | {recomputedPerToken / cachedPerToken:F1}× | {PeakRssMb():F0} |");
            section[name] = new JsonObject
            {
                ["params"] = config.ParameterCount, ["prefix_tokens"] = prefixTokens, ["prefix_forward_ms"] = Math.Round(prefixMs, 1),
                ["one_token_forward_ms"] = Math.Round(oneTokenMs, 2), ["cached_ms_per_token"] = Math.Round(cachedPerToken, 2),
                ["recomputed_ms_per_token"] = Math.Round(recomputedPerToken, 2), ["peak_rss_mb"] = Math.Round(PeakRssMb()),
            };
        }
        BenchRecord.Merge(repoRoot, "backbone", section, quick);
    }

    /// <summary>Encodes the prefix, then appends <paramref name="steps"/> tokens, with or without the KV cache; returns the seconds the new tokens took.</summary>
    private static double Decode(PaliGemmaBackbone model, Tensor images, long[] prompt, int steps, bool cached)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(prompt, [1, prompt.Length]);
        using var prefix = model.EmbedPrefix(images, ids, ones_like(ids, ScalarType.Bool));
        using var cache = new KvCache(model.Config.Text.NumHiddenLayers);
        var hidden = model.EncodePrefix(prefix, cached ? cache : null);
        var embeddings = prefix.Embeddings;
        long s = prefix.Mask.shape[1];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int step = 0; step < steps; step++)
        {
            long next = model.LanguageModel.Logits(hidden[.., -1]).argmax(-1).item<long>();
            var token = model.LanguageModel.Embed(tensor(new[] { next }, [1, 1]));
            if (cached)
            {
                var positions = tensor(new[] { s + step + 1 }, [1, 1]);
                var mask = AttentionMasks.Suffix(ones(1, s + step, ScalarType.Bool), 1);
                hidden = model.LanguageModel.forward(token, positions, mask, cache);
            }
            else
            {
                // The whole sequence again: prefix rows see the prefix; new rows see the prefix and earlier new tokens.
                embeddings = cat([embeddings, token], 1);
                long total = s + step + 1;
                var prefixRows = cat([AttentionMasks.Prefix(ones(1, s, ScalarType.Bool)), zeros(1, 1, s, step + 1, ScalarType.Bool)], -1);
                var mask = cat([prefixRows, AttentionMasks.Suffix(ones(1, s, ScalarType.Bool), step + 1)], 2);
                var positions = arange(1, total + 1, ScalarType.Int64).unsqueeze(0);
                hidden = model.LanguageModel.forward(embeddings, positions, mask);
            }
        }
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>The process's peak resident set (VmHWM), in MB.</summary>
    public static double PeakRssMb() => Measure.ProcStatusMb("VmHWM");
}
