using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The Gemma language model: token embedding (also the tied output projection), decoder layers and a
/// final RMSNorm. Input embeddings are multiplied by √hidden before the first layer, as Gemma does.
/// </summary>
public sealed class GemmaDecoder : nn.Module
{
    private readonly TokenEmbedding embed_tokens;
    private readonly ModuleList<GemmaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly GemmaConfig _config;

    /// <summary>Creates the decoder (the embedding and projections drawn unless <paramref name="initialize"/> is false).</summary>
    public GemmaDecoder(GemmaConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(GemmaDecoder))
    {
        _config = config;
        embed_tokens = new TokenEmbedding(config.VocabSize, config.HiddenSize, dtype, initialize);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(i => new GemmaDecoderLayer(config, i, dtype, initialize)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        RegisterComponents();
    }

    /// <summary>When set, each layer's activations are recomputed during backward instead of kept (training only).</summary>
    public ActivationCheckpointing? Checkpointing { get; set; }

    /// <summary>The decoder's shape.</summary>
    public GemmaConfig Config => _config;

    /// <summary>The decoder layers, in order.</summary>
    public IList<GemmaDecoderLayer> Layers => layers;

    /// <summary>The final norm.</summary>
    public RmsNorm FinalNorm => norm;

    /// <summary>The embedding table, shared with the output projection.</summary>
    public Tensor EmbeddingWeight => embed_tokens.Weight;

    /// <summary>The token table as a module (to store it in another dtype).</summary>
    public nn.Module EmbedTokens => embed_tokens;

    /// <summary>Looks up token embeddings (B, T) → (B, T, D), unscaled.</summary>
    public Tensor Embed(Tensor tokenIds) => embed_tokens.forward(tokenIds);

    /// <summary>Vocabulary logits of hidden states (…, D) → (…, vocab), through the tied embedding.</summary>
    public Tensor Logits(Tensor hidden) => nn.functional.linear(hidden, embed_tokens.Weight);

    /// <summary>
    /// Runs the layers over <paramref name="inputsEmbeds"/> (B, T, D) at <paramref name="positions"/> (B, T)
    /// with the attention <paramref name="mask"/> (B, 1, T, S); returns the final normed hidden states.
    /// <paramref name="layerOutputs"/>, when given, receives each layer's output (before the final norm); the caller disposes them.
    /// </summary>
    public Tensor forward(Tensor inputsEmbeds, Tensor positions, Tensor mask, KvCache? cache = null, List<Tensor>? layerOutputs = null)
    {
        using var scope = NewDisposeScope();
        var (cos, sin) = RotaryEmbedding.CosSin(positions, _config.HeadDim, _config.RopeTheta);
        // Gemma scales embeddings by √hidden, rounded to the model dtype as Hugging Face does.
        var x = inputsEmbeds * tensor(Math.Sqrt(_config.HiddenSize), inputsEmbeds.dtype, inputsEmbeds.device);
        var recompute = cache is null && is_grad_enabled() ? Checkpointing : null;
        foreach (var layer in layers)
        {
            x = recompute is not null
                ? recompute.Run(t => layer.forward(t[0], t[1], t[2], t[3], null), [x, cos, sin, mask], ActivationCheckpointing.TrainedParameters(layer))
                : layer.forward(x, cos, sin, mask, cache);
            if (layerOutputs is not null) layerOutputs.Add(x.detach().DetachFromDisposeScope()); // owned by the caller
        }
        return norm.forward(x).MoveToOuterDisposeScope();
    }
}
