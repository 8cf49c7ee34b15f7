using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// PaliGemma with the action expert (LeRobot's and openpi's <c>PaliGemmaWithExpertModel</c>): in every layer each stream
/// normalizes and projects its own tokens, queries, keys and values are joined along the sequence, rotated at the joint
/// positions and attend once, and each stream takes its part back through its own output projection and MLP. Either
/// stream may be absent: the prefix alone fills a cache of its rotated keys and values, the suffix alone attends to it.
/// </summary>
public sealed class JointTransformer : nn.Module
{
    private readonly PaliGemmaBackbone paligemma;
    private readonly ActionExpert gemma_expert;

    /// <summary>Joins <paramref name="backbone"/> and <paramref name="expert"/>, which must agree on depth, heads and head width.</summary>
    public JointTransformer(PaliGemmaBackbone backbone, ActionExpert expert) : base(nameof(JointTransformer))
    {
        var (b, e) = (backbone.Config.Text, expert.Config);
        if (b.NumHiddenLayers != e.NumHiddenLayers || b.NumAttentionHeads != e.NumAttentionHeads
            || b.NumKeyValueHeads != e.NumKeyValueHeads || b.HeadDim != e.HeadDim)
            throw new ArgumentException($"The action expert ({e.NumHiddenLayers} layers, {e.NumAttentionHeads}×{e.HeadDim} heads, {e.NumKeyValueHeads} kv) " +
                                        $"must match the backbone ({b.NumHiddenLayers}, {b.NumAttentionHeads}×{b.HeadDim}, {b.NumKeyValueHeads}).");
        paligemma = backbone;
        gemma_expert = expert;
        RegisterComponents();
    }

    /// <summary>The vision-language model.</summary>
    public PaliGemmaBackbone PaliGemma => paligemma;

    /// <summary>The action expert.</summary>
    public ActionExpert Expert => gemma_expert;

    /// <summary>
    /// Runs the layers over <paramref name="prefix"/> (B, P, D_vlm) and/or <paramref name="suffix"/> (B, S, D_expert) at
    /// <paramref name="positions"/> (B, tokens given) under the additive <paramref name="mask"/> (B, 1, tokens given, keys).
    /// With a prefix and a <paramref name="cache"/>, the prefix's rotated keys and values are stored in it; with only a
    /// suffix, the cached ones come first among the keys. <paramref name="condition"/> (B, C) feeds adaptive expert norms.
    /// Returns each given stream's final normed output; <paramref name="layerOutputs"/>, when given, receives each layer's
    /// outputs (before the final norms), which the caller disposes.
    /// </summary>
    public (Tensor? Prefix, Tensor? Suffix) forward(Tensor? prefix, Tensor? suffix, Tensor positions, Tensor mask, Tensor? condition, KvCache? cache,
                                                   List<(Tensor? Prefix, Tensor? Suffix)>? layerOutputs = null)
    {
        using var scope = NewDisposeScope();
        var text = paligemma.LanguageModel;
        var (cos, sin) = RotaryEmbedding.CosSin(positions, text.Config.HeadDim, text.Config.RopeTheta);
        Tensor? p = prefix, s = suffix;
        for (int i = 0; i < text.Config.NumHiddenLayers; i++)
        {
            using var layerScope = NewDisposeScope(); // autograd keeps what backward needs; the rest goes with the layer
            var streams = new List<Stream>();
            if (p is not null) streams.Add(Stream.Of(text.Layers[i], p));
            if (s is not null) streams.Add(Stream.Of(gemma_expert.Layers[i], s, condition));
            var outputs = Layer(streams, cos, sin, mask, cache, i, storeInCache: p is not null);
            var (previousP, previousS) = (p, s);
            if (p is not null) p = outputs[0].MoveToOuterDisposeScope();
            if (s is not null) s = outputs[^1].MoveToOuterDisposeScope();
            if (!is_grad_enabled()) // without autograd nothing needs the previous layer's states: free them as we go
            {
                if (previousP is not null && !ReferenceEquals(previousP, prefix)) previousP.Dispose();
                if (previousS is not null && !ReferenceEquals(previousS, suffix)) previousS.Dispose();
            }
            layerOutputs?.Add((p?.detach().DetachFromDisposeScope(), s?.detach().DetachFromDisposeScope()));
        }
        var prefixOut = p is null ? null : text.FinalNorm.forward(p).MoveToOuterDisposeScope();
        var suffixOut = s is null ? null : gemma_expert.FinalNorm.forward(s, condition).Normed.MoveToOuterDisposeScope();
        return (prefixOut, suffixOut);
    }

    private static List<Tensor> Layer(List<Stream> streams, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer, bool storeInCache)
    {
        var gates = new List<Tensor?>();
        var (qs, ks, vs) = (new List<Tensor>(), new List<Tensor>(), new List<Tensor>());
        foreach (var stream in streams)
        {
            var (normed, gate) = stream.InputNorm(stream.Hidden);
            gates.Add(gate);
            var (q, k, v) = stream.Attention.Project(normed);
            qs.Add(q); ks.Add(k); vs.Add(v);
        }
        var queries = RotaryEmbedding.Apply(cat(qs, 2), cos, sin);
        var keys = RotaryEmbedding.Apply(cat(ks, 2), cos, sin);
        var values = cat(vs, 2);
        if (cache is not null && storeInCache) cache.Append(layer, keys, values);
        else if (cache is not null) (keys, values) = (cat([cache.Keys(layer), keys], 2), cat([cache.Values(layer), values], 2));
        var attended = GemmaAttention.Attend(queries, keys, values, mask);              // (B, heads, T, head_dim)
        var merged = attended.transpose(1, 2).flatten(2);                              // (B, T, heads · head_dim)
        var outputs = new List<Tensor>();
        long start = 0;
        for (int i = 0; i < streams.Count; i++)
        {
            var stream = streams[i];
            long length = stream.Hidden.shape[1];
            var h = Gated(stream.Hidden, stream.Attention.Output(merged.narrow(1, start, length)), gates[i]);
            var (normed, gate) = stream.PostAttentionNorm(h);
            outputs.Add(Gated(h, stream.Mlp.forward(normed), gate));
            start += length;
        }
        return outputs;
    }

    /// <summary><c>x + y</c>, or <c>x + y · gate</c> after an adaptive norm.</summary>
    private static Tensor Gated(Tensor x, Tensor y, Tensor? gate) => gate is null ? x + y : x + y * gate;

    /// <summary>One stream's layer as the joint layer uses it.</summary>
    private sealed record Stream(Tensor Hidden, Func<Tensor, (Tensor, Tensor?)> InputNorm, GemmaAttention Attention,
                                 Func<Tensor, (Tensor, Tensor?)> PostAttentionNorm, GemmaMlp Mlp)
    {
        public static Stream Of(GemmaDecoderLayer layer, Tensor hidden) =>
            new(hidden, x => (layer.InputNorm.forward(x), null), layer.Attention, x => (layer.PostAttentionNorm.forward(x), null), layer.Mlp);

        public static Stream Of(ExpertLayer layer, Tensor hidden, Tensor? condition) =>
            new(hidden, x => layer.InputNorm.forward(x, condition), layer.Attention, x => layer.PostAttentionNorm.forward(x, condition), layer.Mlp);
    }
}
