using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The SigLIP vision tower as PaliGemma uses it: patch embedding (a convolution with stride = patch),
/// learned position embedding, encoder layers, post LayerNorm, no pooling head. Images (B, 3, H, W) in
/// [-1, 1] become one token per patch (B, N, hidden).
/// </summary>
public sealed class SiglipVisionTower : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d patch_embedding;
    private readonly Embedding position_embedding;
    private readonly ModuleList<SiglipEncoderLayer> layers;
    private readonly LayerNorm post_layernorm;
    private readonly SiglipConfig _config;

    /// <summary>Creates the tower (its projections drawn unless <paramref name="initialize"/> is false).</summary>
    public SiglipVisionTower(SiglipConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(SiglipVisionTower))
    {
        _config = config;
        patch_embedding = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize, dtype: dtype);
        position_embedding = nn.Embedding(config.NumPatches, config.HiddenSize, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new SiglipEncoderLayer(config, dtype, initialize)).ToArray());
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>When set, each layer's activations are recomputed during backward instead of kept (training only).</summary>
    public ActivationCheckpointing? Checkpointing { get; set; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        if (pixels.shape[^1] != _config.ImageSize || pixels.shape[^2] != _config.ImageSize)
            throw new ArgumentException($"The vision tower takes {_config.ImageSize}×{_config.ImageSize} images, got {pixels.shape[^2]}×{pixels.shape[^1]}.");
        var patches = patch_embedding.forward(pixels.to_type(patch_embedding.weight!.dtype)); // (B, hidden, H/p, W/p)
        var x = patches.flatten(2).transpose(1, 2);                                           // (B, N, hidden)
        x = x + position_embedding.weight!.unsqueeze(0);
        var recompute = is_grad_enabled() ? Checkpointing : null;
        foreach (var layer in layers)
            x = recompute is not null ? recompute.Run(t => layer.forward(t[0]), [x], ActivationCheckpointing.TrainedParameters(layer)) : layer.forward(x);
        return post_layernorm.forward(x).MoveToOuterDisposeScope();
    }
}
