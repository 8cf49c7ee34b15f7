using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>Starts every rank of a data-parallel job from one rank's weights.</summary>
public static class WeightBroadcast
{
    /// <summary>Overwrites <paramref name="parameters"/> on every rank with rank <paramref name="root"/>'s (sent as float32, which holds every dtype's values exactly).</summary>
    public static void FromRoot(IEnumerable<Parameter> parameters, IProcessGroup group, int root = 0)
    {
        if (group.WorldSize == 1) return;
        using var noGrad = no_grad();
        foreach (var p in parameters)
        {
            using var scope = NewDisposeScope();
            var values = p.to_type(ScalarType.Float32).contiguous();
            group.Broadcast(values, root);
            p.copy_(values);
        }
    }
}
