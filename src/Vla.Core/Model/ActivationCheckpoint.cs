using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Gradient (activation) checkpointing for one layer, as <c>torch.utils.checkpoint</c>: the forward runs without
/// recording the graph and keeps only the layer's inputs; backward runs the layer again with the graph on and
/// differentiates that. Built on TorchSharp's custom autograd functions. The layer's trained parameters are inputs
/// of the function too, so their gradients flow even when the activations coming in need none (a frozen vision
/// tower feeding adapters). The random state (the process-wide generator and the training step's dropout call count,
/// <see cref="BatchDropout.Source"/>) is put back for the second run, so dropout draws the same masks both times.
/// </summary>
public sealed class ActivationCheckpoint : autograd.SingleTensorFunction<ActivationCheckpoint>
{
    /// <inheritdoc/>
    public override string Name => nameof(ActivationCheckpoint);

    /// <summary>
    /// <paramref name="layer"/>(<paramref name="inputs"/>) with its intermediate activations recomputed during backward
    /// instead of kept. <paramref name="parameters"/> are the layer's parameters that train.
    /// </summary>
    public static Tensor Run(Func<Tensor[], Tensor> layer, Tensor[] inputs, IReadOnlyList<Parameter> parameters)
    {
        object[] arguments = [layer, inputs.Length, .. inputs, .. parameters];
        return apply(arguments);
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var layer = (Func<Tensor[], Tensor>)vars[0];
        int count = (int)vars[1];
        var inputs = vars.Skip(2).Take(count).Cast<Tensor>().ToArray();
        ctx.save_for_backward([.. inputs]);
        ctx.save_data("layer", layer);
        ctx.save_data("parameters", vars.Skip(2 + count).Cast<Parameter>().ToArray());
        ctx.save_data("requires_grad", inputs.Select(t => t.requires_grad).ToArray());
        using (var state = get_rng_state()) ctx.save_data("rng", state.data<byte>().ToArray());
        if (BatchDropout.Source is { } masks) ctx.save_data("masks", masks.Calls);
        return layer(inputs);
    }

    /// <summary>
    /// The input gradients handed back to libtorch by the last <see cref="backward"/> on this thread. libtorch holds its own
    /// reference once the call returns, so each batch is released at the next call (or by <see cref="ReleaseReturned"/>
    /// after the backward pass) instead of living until the training step's dispose scope ends.
    /// </summary>
    [ThreadStatic] private static List<Tensor>? t_returned;

    /// <summary>Frees what the last recomputation on this thread handed back (call after a backward pass).</summary>
    public static void ReleaseReturned()
    {
        if (t_returned is null) return;
        foreach (var t in t_returned) t.Dispose();
        t_returned.Clear();
    }

    /// <summary>Recomputations run on any thread since the process started (a diagnostic: tests check checkpointing ran).</summary>
    public static long Recomputations => Interlocked.Read(ref s_recomputations);
    private static long s_recomputations;

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        ReleaseReturned();
        Interlocked.Increment(ref s_recomputations);
        var layer = (Func<Tensor[], Tensor>)ctx.get_data("layer");
        var parameters = (Parameter[])ctx.get_data("parameters");
        var requiresGrad = (bool[])ctx.get_data("requires_grad");
        var result = new List<Tensor> { null!, null! };                   // the layer and the input count
        using (var scope = NewDisposeScope())
        {
            var inputs = ctx.get_saved_variables().Select((t, i) => t.detach().requires_grad_(requiresGrad[i])).ToArray();
            var laterState = get_rng_state();
            set_rng_state(tensor((byte[])ctx.get_data("rng")));
            var masks = BatchDropout.Source;
            int laterCalls = masks?.Calls ?? 0;
            if (masks is not null) masks.Calls = (int)ctx.get_data("masks");
            Tensor output;
            try
            {
                using (enable_grad()) output = layer(inputs);
            }
            finally
            {
                set_rng_state(laterState);
                if (masks is not null) masks.Calls = laterCalls;
            }
            // Parameters' gradients accumulate straight into .grad (no second copy held until the step ends); the
            // inputs' come back to the outer graph.
            var wanted = inputs.Where(t => t.requires_grad).Concat(parameters).ToList();
            if (wanted.Count > 0) autograd.backward([output], [gradOutput], inputs: wanted);
            t_returned ??= [];
            foreach (var input in inputs)
            {
                var grad = input.requires_grad ? input.grad : null;
                if (grad is not null) t_returned.Add(grad.DetachFromDisposeScope());
                result.Add(grad!);
            }
        }
        foreach (var _ in parameters) result.Add(null!);                  // already in .grad
        gradOutput.Dispose();
        return result;
    }
}
