using TorchSharp;
using TorchSharp.Modules;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A linear layer with TorchSharp's <c>Linear</c> parameters (<c>weight</c>, optional <c>bias</c>), names and
/// initialization, that can carry a LoRA adapter as PEFT lays it out: <c>lora_A</c> (r × in, Kaiming-uniform) and
/// <c>lora_B</c> (out × r, zeros), so the output is <c>W x + b + (α / r) · B A dropout(x)</c>. The adapter is
/// float32 whatever the weight's dtype (see <see cref="forward"/> for how its output joins the base's).
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private Linear? lora_A;
    private Linear? lora_B;
    private double _scale, _dropout;
    private DropoutMasks? _masks;

    /// <summary>
    /// Creates the layer in <paramref name="dtype"/>, drawing its weights as TorchSharp's <c>nn.Linear</c> does, or, without
    /// <paramref name="initialize"/>, leaving them as allocated (they are about to be loaded).
    /// </summary>
    public LoraLinear(long inFeatures, long outFeatures, bool hasBias = true, ScalarType dtype = ScalarType.Float32, bool initialize = true) : base(nameof(LoraLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures, dtype));
        if (hasBias) bias = new Parameter(empty(outFeatures, dtype));
        if (initialize)
        {
            nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
            if (bias is not null) nn.init.uniform_(bias, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures));
        }
        RegisterComponents();
    }

    /// <summary>Input features.</summary>
    public long InFeatures => weight.shape[1];

    /// <summary>Output features.</summary>
    public long OutFeatures => weight.shape[0];

    /// <summary>The base weight (out × in).</summary>
    public Parameter Weight => weight;

    /// <summary>True when an adapter is attached.</summary>
    public bool HasAdapter => lora_A is not null;

    /// <summary>
    /// Attaches a rank-<paramref name="rank"/> adapter in float32 on the weight's device (A drawn from the process-wide
    /// generator, B zero, so the layer's output is unchanged until it trains); its dropout draws from the model's
    /// <paramref name="masks"/>. <paramref name="name"/> names the layer in errors.
    /// </summary>
    public void AttachAdapter(int rank, double alpha, double dropout, DropoutMasks masks, string name)
    {
        if (HasAdapter) throw new InvalidOperationException($"{name} already has a LoRA adapter.");
        long width = Math.Min(InFeatures, OutFeatures);
        if (rank > width)
            throw new BadInputException($"model.lora.rank is {rank}, above the width of {name} ({InFeatures} → {OutFeatures}, at most {width}).");
        lora_A = nn.Linear(InFeatures, rank, hasBias: false, device: weight.device);
        lora_B = nn.Linear(rank, OutFeatures, hasBias: false, device: weight.device);
        using (no_grad()) lora_B.weight.zero_();
        register_module(nameof(lora_A), lora_A);
        register_module(nameof(lora_B), lora_B);
        _scale = alpha / rank;
        _dropout = dropout;
        _masks = masks;
    }

    /// <summary>The weight with the adapter folded in (<c>W + (α / r) B A</c>, rounded to the weight's dtype), a new tensor; the weight itself without an adapter.</summary>
    public Tensor MergedWeight()
    {
        using var noGrad = no_grad();
        if (lora_A is null || lora_B is null) return weight.detach().clone();
        using var scope = NewDisposeScope();
        var delta = lora_B.weight.matmul(lora_A.weight) * _scale;                  // (out, in), float32
        return (weight.to_type(ScalarType.Float32) + delta).to_type(weight.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Folds the adapter into the weight (<c>W += (α / r) B A</c>, rounded to the weight's dtype) and removes it.</summary>
    public void MergeAdapter()
    {
        if (lora_A is null || lora_B is null) return;
        using (no_grad())
        using (var merged = MergedWeight()) weight.copy_(merged);
        // Dropping the registrations leaves the layer as it was before AttachAdapter.
        _internal_submodules.Remove(nameof(lora_A));
        _internal_submodules.Remove(nameof(lora_B));
        lora_A.Dispose();
        lora_B.Dispose();
        lora_A = lora_B = null;
    }

    /// <summary>
    /// <c>W x + b</c>, plus <c>(α / r) · B A dropout(x)</c> when an adapter is attached. A (r × in) runs in float32 on the
    /// float32 input; the product with B is added into the base output in place, in its dtype, as one fused
    /// <c>addmm</c>. PEFT instead materializes the float32 delta, the float32 sum and its rounding: three output-sized
    /// temporaries that cost 0.5 s per projection at PaliGemma-3B batch 4 on the 2-core host of the scale benchmark
    /// (fresh pages are expensive there), 2.5× the base projection; in place it costs 3 ms. With a bfloat16 base the
    /// adapter's B product and its gradients round to bfloat16 (float32 accumulation); a float32 base is unchanged.
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        var result = nn.functional.linear(x, weight, bias);
        if (lora_A is null || lora_B is null) return result;
        using var scope = NewDisposeScope();
        var input = x.to_type(ScalarType.Float32);
        if (_dropout > 0 && training) input = _masks!.Apply(input, _dropout, training: true);
        var low = lora_A.forward(input);                                                    // (…, r), float32
        long rank = low.shape[^1];
        result.view(-1, OutFeatures).addmm_(low.reshape(-1, rank).to_type(result.dtype), lora_B.weight.to_type(result.dtype).t(), beta: 1, alpha: (float)_scale);
        return result.MoveToOuterDisposeScope();
    }
}
