using TorchSharp;
using TorchSharp.Modules;
using Vla.Config;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// The flow-matching action head. Flow convention (as pi0): t = 1 is pure noise, t = 0 is data;
/// <c>x_t = t·ε + (1 − t)·a</c> and the head predicts the velocity <c>u = ε − a</c>, so integrating
/// dx/dt = v from t = 1 down to t = 0 turns noise into an action chunk.
/// The noisy chunk (B, horizon, per_action_dim) becomes one token per step (per-step MLP plus a learned
/// position over the horizon); blocks attend among the steps and to the context, conditioned on t; a
/// per-token projection gives the velocity of each step.
/// </summary>
public sealed class FlowMatchingHead : nn.Module
{
    private readonly Sequential action_encoder;
    private readonly Parameter horizon_embedding;
    private readonly Sequential time_mlp;
    private readonly ModuleList<FlowMatchingBlock> blocks;
    private readonly LayerNorm final_norm;
    private readonly Linear final_ada_ln;
    private readonly Linear output;
    private readonly int _width;

    /// <summary>Shortest and longest period of the sinusoidal time embedding (pi0's values).</summary>
    private const double MinPeriod = 4e-3, MaxPeriod = 4.0;

    /// <summary>Creates the head for context tokens of width <paramref name="contextDim"/>, its dropout drawing from the model's <paramref name="masks"/>.</summary>
    public FlowMatchingHead(ActionHeadConfig config, int contextDim, DropoutMasks masks) : base(nameof(FlowMatchingHead))
    {
        _width = config.HiddenDim;
        action_encoder = Mlp.Create(config.PerActionDim, config.MlpHiddenDims, _width);
        horizon_embedding = new Parameter(randn(config.Horizon, _width) * 0.02);
        time_mlp = nn.Sequential(nn.Linear(_width, _width), nn.SiLU(), nn.Linear(_width, _width));
        blocks = nn.ModuleList(Enumerable.Range(0, config.NumLayers)
            .Select(_ => new FlowMatchingBlock(_width, contextDim, config.NumHeads, config.DropoutProb, masks)).ToArray());
        final_norm = nn.LayerNorm(_width, elementwise_affine: false, eps: 1e-6);
        final_ada_ln = nn.Linear(_width, 2 * _width);
        output = nn.Linear(_width, config.PerActionDim);
        RegisterComponents();
        using var noGrad = no_grad();
        final_ada_ln.weight!.zero_();
        final_ada_ln.bias!.zero_();
    }

    /// <summary>Sinusoidal embedding of flow times (B) → (B, width), periods from 4e-3 to 4.</summary>
    public static Tensor TimeEmbedding(Tensor time, int width)
    {
        using var scope = NewDisposeScope();
        var fraction = linspace(0, 1, width / 2, ScalarType.Float32, time.device);
        var period = MinPeriod * pow(MaxPeriod / MinPeriod, fraction);
        var angle = time.to_type(ScalarType.Float32).unsqueeze(-1) * (2 * Math.PI / period); // (B, width / 2)
        return cat([angle.sin(), angle.cos()], -1).MoveToOuterDisposeScope();
    }

    /// <summary>Velocity (B, horizon, per_action_dim) of the noisy chunk <paramref name="noisy"/> at times <paramref name="time"/> (B).</summary>
    public Tensor forward(Tensor noisy, Tensor time, Tensor context, Tensor contextMask)
    {
        using var scope = NewDisposeScope();
        return forward(noisy, time, Prepare(context, contextMask)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What stays fixed over a chunk's Euler steps, computed once: each block's cross-attention keys and values of the
    /// context (pi0 keeps its prefix KV cache for the same reason) and, for the flow times <paramref name="times"/> the
    /// sampler will use, the time conditioning of every block in one batch. The tensors belong to the caller's dispose scope.
    /// </summary>
    public HeadContext Prepare(Tensor context, Tensor contextMask, IReadOnlyList<double>? times = null)
    {
        var keysValues = blocks.Select(block => block.ContextKeysValues(context)).ToList();
        if (times is not { Count: > 0 }) return new HeadContext(keysValues, contextMask);
        var (modulations, final) = Conditioning(tensor(times.Select(v => (float)v).ToArray(), device: context.device));   // (steps, …)
        return new HeadContext(keysValues, contextMask, times.ToArray(), modulations, final);
    }

    /// <summary>The time conditioning of flow times <paramref name="time"/> (N): every block's modulation (N, 9·W) and the output norm's (N, 2·W).</summary>
    private (IReadOnlyList<Tensor> Blocks, Tensor Final) Conditioning(Tensor time)
    {
        var condition = time_mlp.forward(TimeEmbedding(time, _width).to_type(horizon_embedding.dtype));    // (N, W)
        return (blocks.Select(block => block.Modulation(condition)).ToList(), final_ada_ln.forward(nn.functional.silu(condition)));
    }

    /// <summary>
    /// Velocity of <paramref name="noisy"/> at <paramref name="time"/> against a context from <see cref="Prepare"/>; when
    /// <paramref name="t"/> is one of the prepared times, its conditioning is taken from there.
    /// </summary>
    public Tensor forward(Tensor noisy, Tensor time, HeadContext context, double? t = null)
    {
        using var scope = NewDisposeScope();
        var x = action_encoder.forward(noisy) + horizon_embedding.unsqueeze(0);          // (B, horizon, W)
        int step = t is double value && context.Times is { } times ? Array.IndexOf(times, value) : -1;
        var (modulations, finalModulation) = step >= 0
            ? (context.Modulations!.Select(m => m.narrow(0, step, 1)).ToList(), context.FinalModulation!.narrow(0, step, 1))   // (1, …): broadcast over the batch
            : Conditioning(time);
        for (int i = 0; i < blocks.Count; i++)
            x = blocks[i].forward(x, modulations[i], context.KeysValues[i].Keys, context.KeysValues[i].Values, context.Mask);
        var shiftScale = finalModulation.unsqueeze(1).chunk(2, -1);
        x = final_norm.forward(x) * (shiftScale[1] + 1) + shiftScale[0];
        return output.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// What the head's steps share within a chunk (<see cref="FlowMatchingHead.Prepare"/>): per block, the cross-attention keys and
/// values (B, heads, S, head_dim) and the mask (B, S); optionally the time conditioning of the sampler's flow times.
/// </summary>
/// <param name="KeysValues">One pair per block.</param>
/// <param name="Mask">Which context tokens are real (not padding).</param>
/// <param name="Times">The prepared flow times, or null.</param>
/// <param name="Modulations">Per block, (times, 9·W) modulations for <paramref name="Times"/>.</param>
/// <param name="FinalModulation">(times, 2·W) shift and scale of the output norm.</param>
public sealed record HeadContext(IReadOnlyList<(Tensor Keys, Tensor Values)> KeysValues, Tensor Mask, double[]? Times = null,
    IReadOnlyList<Tensor>? Modulations = null, Tensor? FinalModulation = null);
