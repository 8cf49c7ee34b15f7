using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>The epoch-end validation of a training run.</summary>
public static class Validation
{
    private const int SeedOffset = 7919; // fixed noise and times for validation, apart from training's

    /// <summary>
    /// Validation loss, sampled-chunk MSE and the mean-chunk baseline over every validation window, with each window's
    /// draws fixed by the run seed and the window (<see cref="WindowNoise"/>). Every rank validates its own windows; the
    /// sums are all-reduced.
    /// </summary>
    public static ValidationMetrics Run(ITrainablePolicy policy, BatchLoader loader, Normalizer normalizer, long seed, int steps, IProcessGroup? group = null, CancellationToken ct = default)
    {
        policy.Module.eval();
        using var noGrad = no_grad();
        var mean = (float[])normalizer.Stats.Action.Mean.Clone();
        normalizer.NormalizeActions(mean);
        double loss = 0, mse = 0, baseline = 0, weight = 0;
        foreach (var batch in loader.Epoch(0, ct))
        {
            using var _ = batch;
            using var guard = NativeCallGuard.Enter();
            using var scope = NewDisposeScope();
            var (noise, time, start) = WindowNoise.Draw(batch, seed + SeedOffset, policy.Spec.NoiseDim);
            double count = batch.ActionMask.sum().item<long>();
            loss += LossReduction.MaskedMean(policy.ComputeLoss(batch.Input, batch.Actions, noise, time), batch.ActionMask).item<float>() * count;
            var sampled = policy.SampleActions(batch.Input, steps, noise: start);
            mse += LossReduction.MaskedMse(sampled, batch.Actions, batch.ActionMask).item<float>() * count;
            var meanChunk = tensor(mean, device: batch.Actions.device).expand_as(batch.Actions);
            baseline += LossReduction.MaskedMse(meanChunk, batch.Actions, batch.ActionMask).item<float>() * count;
            weight += count;
        }
        policy.Module.train();
        var totals = (group ?? new SingleProcessGroup()).AllReduceSum([loss, mse, baseline, weight]); // each rank saw its own windows
        return new ValidationMetrics(totals[0] / totals[3], totals[1] / totals[3], totals[2] / totals[3]);
    }
}
