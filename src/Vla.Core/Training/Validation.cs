using TorchSharp;
using Vla.Config;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>The epoch-end validation of a training run.</summary>
public static class Validation
{
    private const int SeedOffset = 7919; // fixed noise and times for validation, apart from training's

    /// <summary>
    /// Validation loss, sampled-chunk MSE and the mean-chunk baseline over every validation window. Each
    /// window's noise and flow time come from a generator seeded by the run seed and the window itself, so
    /// the figures do not depend on batch size, sharding, the number of processes or the device.
    /// </summary>
    public static ValidationMetrics Run(VlaModel model, BatchLoader loader, Normalizer normalizer, VlaConfig config, IProcessGroup? group = null, CancellationToken ct = default)
    {
        model.eval();
        using var noGrad = no_grad();
        var mean = (float[])normalizer.Stats.Action.Mean.Clone();
        normalizer.NormalizeActions(mean);
        double loss = 0, mse = 0, baseline = 0, weight = 0;
        foreach (var batch in loader.Epoch(0, ct))
        {
            using var _ = batch;
            using var guard = NativeCallGuard.Enter();
            using var scope = NewDisposeScope();
            var (noise, time, start) = WindowNoise(batch, config.Training.Seed + SeedOffset);
            var input = new PolicyInput(batch.Images, batch.TokenIds, batch.TokenMask, batch.State);
            double steps = batch.ActionMask.sum().item<long>();
            loss += VlaModel.MaskedMean(model.ComputeLoss(input, batch.Actions, noise, time), batch.ActionMask).item<float>() * steps;
            var sampled = model.SampleActions(input, config.Model.ActionHeadConfig.NumInferenceSteps, noise: start);
            mse += VlaModel.MaskedMse(sampled, batch.Actions, batch.ActionMask).item<float>() * steps;
            var meanChunk = tensor(mean, device: batch.Actions.device).expand_as(batch.Actions);
            baseline += VlaModel.MaskedMse(meanChunk, batch.Actions, batch.ActionMask).item<float>() * steps;
            weight += steps;
        }
        model.train();
        var totals = (group ?? new SingleProcessGroup()).AllReduceSum([loss, mse, baseline, weight]); // each rank saw its own windows
        return new ValidationMetrics(totals[0] / totals[3], totals[1] / totals[3], totals[2] / totals[3]);
    }

    /// <summary>Per-window loss noise, flow time and sampling start noise, each from a host generator seeded by the window.</summary>
    private static (Tensor Noise, Tensor Time, Tensor Start) WindowNoise(VlaBatch batch, long seed)
    {
        long horizon = batch.Actions.shape[1], dim = batch.Actions.shape[2];
        var noise = new List<Tensor>();
        var time = new List<Tensor>();
        var start = new List<Tensor>();
        foreach (var w in batch.Windows)
        {
            using var generator = new Generator((ulong)(seed * 1_000_003 + w.Episode * 10_007L + w.Step));
            noise.Add(VlaModel.SampleNoise([1, horizon, dim], generator));
            time.Add(VlaModel.SampleTime(1, generator));
            start.Add(VlaModel.SampleNoise([1, horizon, dim], generator));
        }
        var device = batch.Actions.device;
        return (ComputeDevice.ToDevice(cat(noise, 0), device), ComputeDevice.ToDevice(cat(time, 0), device), ComputeDevice.ToDevice(cat(start, 0), device));
    }
}
