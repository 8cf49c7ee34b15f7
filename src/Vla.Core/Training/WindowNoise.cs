using TorchSharp;
using Vla.Data;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>
/// Validation's draws: each window's loss noise, flow time and sampling start noise come from a host generator seeded
/// by the run seed and the window itself, so validation figures do not depend on batch size, sharding, the number of
/// processes or the device.
/// </summary>
public static class WindowNoise
{
    /// <summary>Per-window (noise, time, start) for <paramref name="batch"/>, on its device; noise <paramref name="noiseDim"/> wide when given (<see cref="PolicySpec.NoiseDim"/>).</summary>
    public static (Tensor Noise, Tensor Time, Tensor Start) Draw(VlaBatch batch, long seed, int? noiseDim = null)
    {
        long horizon = batch.Actions.shape[1], dim = noiseDim ?? batch.Actions.shape[2];
        var noise = new List<Tensor>();
        var time = new List<Tensor>();
        var start = new List<Tensor>();
        foreach (var w in batch.Windows)
        {
            using var generator = new Generator((ulong)(seed * 1_000_003 + w.Episode * 10_007L + w.Step));
            noise.Add(FlowMatching.SampleNoise([1, horizon, dim], generator));
            time.Add(FlowMatching.SampleTime(1, generator));
            start.Add(FlowMatching.SampleNoise([1, horizon, dim], generator));
        }
        var device = batch.Actions.device;
        return (ComputeDevice.ToDevice(cat(noise, 0), device), ComputeDevice.ToDevice(cat(time, 0), device), ComputeDevice.ToDevice(cat(start, 0), device));
    }
}
