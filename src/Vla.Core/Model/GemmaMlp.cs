using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>Gemma's GeGLU feed-forward: <c>down(gelu_tanh(gate(x)) · up(x))</c>, no biases.</summary>
public sealed class GemmaMlp : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear gate_proj;
    private readonly LoraLinear up_proj;
    private readonly LoraLinear down_proj;

    /// <summary>Creates the MLP of one decoder layer (weights drawn unless <paramref name="initialize"/> is false).</summary>
    public GemmaMlp(GemmaConfig config, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(GemmaMlp))
    {
        gate_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, hasBias: false, dtype: dtype, initialize: initialize);
        up_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, hasBias: false, dtype: dtype, initialize: initialize);
        down_proj = new LoraLinear(config.IntermediateSize, config.HiddenSize, hasBias: false, dtype: dtype, initialize: initialize);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = nn.functional.gelu(gate_proj.forward(x), GELU.Approximate.tanh) * up_proj.forward(x);
        return down_proj.forward(gated).MoveToOuterDisposeScope();
    }
}
