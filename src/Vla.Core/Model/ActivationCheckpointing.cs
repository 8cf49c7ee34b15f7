using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A model's gradient (activation) checkpointing: set on the layers that recompute (<see cref="PaliGemmaBackbone.Checkpointing"/>),
/// it runs each of them through <see cref="ActivationCheckpoint"/> while gradients are on, repeats their dropout masks from
/// the model's <see cref="DropoutMasks"/>, holds the input gradients each recomputation handed back to libtorch until the
/// backward pass is over, and counts recomputations. Owned by one model: two models never share it.
/// </summary>
public sealed class ActivationCheckpointing(DropoutMasks masks)
{
    private readonly Lock _gate = new();   // on CUDA, libtorch runs backward on its own device threads
    private readonly List<Tensor> _returned = [];
    private long _recomputations;

    /// <summary>The model's dropout masks, rewound for a recomputed layer.</summary>
    public DropoutMasks Masks { get; } = masks;

    /// <summary>Layer recomputations since the model was built (tests check checkpointing ran).</summary>
    public long Recomputations => Interlocked.Read(ref _recomputations);

    /// <summary><paramref name="layer"/>(<paramref name="inputs"/>), recomputed in backward; <paramref name="parameters"/> are the layer's trained ones.</summary>
    public Tensor Run(Func<Tensor[], Tensor> layer, Tensor[] inputs, IReadOnlyList<Parameter> parameters) =>
        ActivationCheckpoint.Run(this, layer, inputs, parameters);

    /// <summary>The layer's parameters that train.</summary>
    public static List<Parameter> TrainedParameters(TorchSharp.torch.nn.Module layer) => layer.parameters().Where(p => p.requires_grad).ToList();

    internal void Recomputed() => Interlocked.Increment(ref _recomputations);

    /// <summary>
    /// Keeps a recomputation's input gradients: libtorch holds its own reference once backward returns them, so each
    /// recomputation's are freed when the next one starts (or by <see cref="ReleaseReturned"/> after the backward pass) instead of
    /// living until the training step's dispose scope ends.
    /// </summary>
    internal void Returned(IEnumerable<Tensor> gradients)
    {
        lock (_gate) _returned.AddRange(gradients);
    }

    /// <summary>Frees what the last recomputation handed back (call after a backward pass).</summary>
    public void ReleaseReturned()
    {
        lock (_gate)
        {
            foreach (var t in _returned) t.Dispose();
            _returned.Clear();
        }
    }
}
