using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Gradient (activation) checkpointing for one layer, as <c>torch.utils.checkpoint</c>: the forward runs without
/// recording the graph and keeps only the layer's inputs; backward runs the layer again with the graph on and
/// differentiates that. Built on TorchSharp's custom autograd functions. The layer's trained parameters are inputs
/// of the function too, so their gradients flow even when the activations coming in need none (a frozen vision
/// tower feeding adapters). The random state (the process-wide generator and the training step's dropout call count in the
/// model's <see cref="DropoutMasks"/>) is put back for the second run, so dropout draws the same masks both times.
/// Used through <see cref="ActivationCheckpointing.Run"/>.
/// </summary>
public sealed class ActivationCheckpoint : autograd.SingleTensorFunction<ActivationCheckpoint>
{
    /// <inheritdoc/>
    public override string Name => nameof(ActivationCheckpoint);

    internal static Tensor Run(ActivationCheckpointing owner, Func<Tensor[], Tensor> layer, Tensor[] inputs, IReadOnlyList<Parameter> parameters)
    {
        object[] arguments = [owner, layer, inputs.Length, .. inputs, .. parameters];
        return apply(arguments);
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var owner = (ActivationCheckpointing)vars[0];
        var layer = (Func<Tensor[], Tensor>)vars[1];
        int count = (int)vars[2];
        var inputs = vars.Skip(3).Take(count).Cast<Tensor>().ToArray();
        ctx.save_for_backward([.. inputs]);
        ctx.save_data("owner", owner);
        ctx.save_data("layer", layer);
        ctx.save_data("parameters", vars.Skip(3 + count).Cast<Parameter>().ToArray());
        ctx.save_data("requires_grad", inputs.Select(t => t.requires_grad).ToArray());
        using (var state = get_rng_state()) ctx.save_data("rng", state.data<byte>().ToArray());
        if (owner.Masks.Current is { } masks) ctx.save_data("masks", masks.Calls);
        return layer(inputs);
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var owner = (ActivationCheckpointing)ctx.get_data("owner");
        owner.ReleaseReturned();
        owner.Recomputed();
        var layer = (Func<Tensor[], Tensor>)ctx.get_data("layer");
        var parameters = (Parameter[])ctx.get_data("parameters");
        var requiresGrad = (bool[])ctx.get_data("requires_grad");
        var result = new List<Tensor> { null!, null!, null! };            // the owner, the layer and the input count
        var returned = new List<Tensor>();
        using (var scope = NewDisposeScope())
        {
            var inputs = ctx.get_saved_variables().Select((t, i) => t.detach().requires_grad_(requiresGrad[i])).ToArray();
            var laterState = get_rng_state();
            set_rng_state(tensor((byte[])ctx.get_data("rng")));
            var masks = owner.Masks.Current;
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
            foreach (var input in inputs)
            {
                var grad = input.requires_grad ? input.grad : null;
                if (grad is not null) returned.Add(grad.DetachFromDisposeScope());
                result.Add(grad!);
            }
        }
        owner.Returned(returned);
        foreach (var _ in parameters) result.Add(null!);                  // already in .grad
        gradOutput.Dispose();
        return result;
    }
}
