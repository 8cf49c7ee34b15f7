using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>SigLIP's feed-forward: <c>fc2(gelu_tanh(fc1(x)))</c> with biases.</summary>
public sealed class SiglipMlp : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear fc1;
    private readonly LoraLinear fc2;

    /// <summary>Creates the MLP of one encoder layer (weights drawn unless <paramref name="initialize"/> is false).</summary>
    public SiglipMlp(SiglipConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(SiglipMlp))
    {
        fc1 = new LoraLinear(config.HiddenSize, config.IntermediateSize, dtype: dtype, initialize: initialize);
        fc2 = new LoraLinear(config.IntermediateSize, config.HiddenSize, dtype: dtype, initialize: initialize);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(nn.functional.gelu(fc1.forward(x), GELU.Approximate.tanh)).MoveToOuterDisposeScope();
    }
}
