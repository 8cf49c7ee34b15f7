using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// The flow-matching draws every policy family shares (pi0's convention, stated in <see cref="PaliGemmaFlow.FlowMatchingHead"/>):
/// standard normal noise ε and flow times t ~ Beta(1.5, 1)·(1 − <see cref="MinTime"/>) + <see cref="MinTime"/>. Both are
/// drawn from a host generator and copied to the device: the same draws on every device, so runs compare and resume
/// across devices.
/// </summary>
public static class FlowMatching
{
    /// <summary>Lower end of the flow-time distribution, as pi0.</summary>
    public const double MinTime = 0.001;

    /// <summary>Flow times (B) by inverse CDF (u^(1/1.5)), on <paramref name="device"/>.</summary>
    public static Tensor SampleTime(long batch, Generator? generator = null, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var u = rand([batch], ScalarType.Float32, generator: generator);
        var time = u.pow(1 / 1.5) * (1 - MinTime) + MinTime;
        return ComputeDevice.ToDevice(time, device ?? CPU).MoveToOuterDisposeScope();
    }

    /// <summary>Standard normal noise of <paramref name="shape"/>, on <paramref name="device"/>.</summary>
    public static Tensor SampleNoise(long[] shape, Generator? generator = null, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var noise = randn(shape, ScalarType.Float32, generator: generator);
        return ComputeDevice.ToDevice(noise, device ?? CPU).MoveToOuterDisposeScope();
    }
}
