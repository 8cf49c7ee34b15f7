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

    /// <summary>The dtype of the transformers' projections (the streams and the mask are cast to it).</summary>
    public ScalarType Dtype => gemma_expert.Layers[0].Attention.Dtype;

    /// <summary>When set, each joint layer (and the vision tower's) is recomputed during backward instead of keeping its activations (training only).</summary>
    public ActivationCheckpointing? Checkpointing
    {
        get => paligemma.Checkpointing;
        set => paligemma.Checkpointing = value;
    }

    /// <summary>
    /// Runs the layers over <paramref name="prefix"/> (B, P, D_vlm) and/or <paramref name="suffix"/> (B, S, D_expert) at
    /// <paramref name="positions"/> (B, tokens given) under the additive <paramref name="mask"/> (B, 1, tokens given, keys).
    /// With a prefix and a <paramref name="cache"/>, the prefix's rotated keys and values are stored in it; with only a
    /// suffix, the cached ones come first among the keys. <paramref name="condition"/> (B, C) feeds adaptive expert norms.
    /// Returns each given stream's final normed output; <paramref name="layerOutputs"/>, when given, receives each layer's
    /// outputs (before the final norms), which the caller disposes. Without <paramref name="prefixOutput"/> the caller reads only
    /// the suffix's output: the prefix's is not returned, and under checkpointing its last layer's part that feeds nothing else is
    /// not recomputed, so those weights get no gradient, as without checkpointing.
    /// </summary>
    public (Tensor? Prefix, Tensor? Suffix) forward(Tensor? prefix, Tensor? suffix, Tensor positions, Tensor mask, Tensor? condition, KvCache? cache,
                                                   List<(Tensor? Prefix, Tensor? Suffix)>? layerOutputs = null, bool prefixOutput = true)
    {
        using var scope = NewDisposeScope();
        var text = paligemma.LanguageModel;
        var (cos, sin) = RotaryEmbedding.CosSin(positions, text.Config.HeadDim, text.Config.RopeTheta);
        var dtype = Dtype;
        (prefix, suffix, mask) = (prefix?.to_type(dtype), suffix?.to_type(dtype), mask.to_type(dtype)); // no copy when they already are
        Tensor? p = prefix, s = suffix;
        for (int i = 0; i < text.Config.NumHiddenLayers; i++)
        {
            using var layerScope = NewDisposeScope(); // autograd keeps what backward needs; the rest goes with the layer
            var outputs = Checkpointing is { } recompute && is_grad_enabled() && cache is null && p is not null && s is not null
                ? Recomputed(recompute, i, p, s, cos, sin, mask, condition, prefixNeeded: prefixOutput || i < text.Config.NumHiddenLayers - 1)
                : Layer(Streams(i, p, s, condition), cos, sin, mask, cache, i, storeInCache: p is not null);
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
        var prefixOut = p is null || !prefixOutput ? null : text.FinalNorm.forward(p).MoveToOuterDisposeScope();
        var suffixOut = s is null ? null : gemma_expert.FinalNorm.forward(s, condition).Normed.MoveToOuterDisposeScope();
        return (prefixOut, suffixOut);
    }

    private List<Stream> Streams(int layer, Tensor? prefix, Tensor? suffix, Tensor? condition)
    {
        var streams = new List<Stream>();
        if (prefix is not null) streams.Add(Stream.Of(paligemma.LanguageModel.Layers[layer], prefix));
        if (suffix is not null) streams.Add(Stream.Of(gemma_expert.Layers[layer], suffix, condition));
        return streams;
    }

    /// <summary>
    /// Layer <paramref name="layer"/> over both streams through <paramref name="recompute"/>, which takes one output: the two
    /// outputs travel flattened side by side (B, P·D_vlm + S·D_expert) and are split back. Without <paramref name="prefixNeeded"/>
    /// only the suffix's output is returned (the prefix's is the input, unchanged, for the caller to ignore).
    /// </summary>
    private List<Tensor> Recomputed(ActivationCheckpointing recompute, int layer, Tensor prefix, Tensor suffix, Tensor cos, Tensor sin, Tensor mask,
                                    Tensor? condition, bool prefixNeeded)
    {
        long b = prefix.shape[0], prefixSize = prefixNeeded ? prefix.shape[1] * prefix.shape[2] : 0;
        var parameters = ActivationCheckpointing.TrainedParameters(paligemma.LanguageModel.Layers[layer])
            .Concat(ActivationCheckpointing.TrainedParameters(gemma_expert.Layers[layer])).ToList();
        Tensor[] inputs = condition is null ? [prefix, suffix, cos, sin, mask] : [prefix, suffix, cos, sin, mask, condition];
        var joined = recompute.Run(t =>
        {
            var outputs = Layer(Streams(layer, t[0], t[1], t.Length > 5 ? t[5] : null), t[2], t[3], t[4], null, layer, storeInCache: false);
            var suffixOut = outputs[1].to_type(outputs[0].dtype).reshape(b, -1);
            return prefixNeeded ? cat([outputs[0].reshape(b, -1), suffixOut], 1) : suffixOut;
        }, inputs, parameters);
        var suffixPart = joined.narrow(1, prefixSize, joined.shape[1] - prefixSize).reshape(suffix.shape).to_type(suffix.dtype);
        return [prefixNeeded ? joined.narrow(1, 0, prefixSize).reshape(prefix.shape) : prefix.alias(), suffixPart];
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
