using Vla.Config;

namespace Vla.Training;

/// <summary>
/// The learning rate at every optimizer step: linear warm-up over <c>warmup_steps</c>, then (for
/// <c>CosineAnnealingLR</c>) a half cosine from <c>lr</c> to <c>eta_min</c> over <c>T_max</c> epochs,
/// held at <c>eta_min</c> afterwards; <c>constant</c> keeps <c>lr</c>.
/// </summary>
public sealed class LearningRateSchedule(OptimizerConfig optimizer, LrSchedulerConfig scheduler, int stepsPerEpoch)
{
    /// <summary>The rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        double peak = optimizer.Lr;
        if (step < scheduler.WarmupSteps) return peak * (step + 1) / scheduler.WarmupSteps;
        if (scheduler.Type == "constant") return peak;
        long total = Math.Max(1, (long)scheduler.TMax * stepsPerEpoch - scheduler.WarmupSteps);
        double progress = Math.Min(1.0, (double)(step - scheduler.WarmupSteps) / total);
        return scheduler.EtaMin + (peak - scheduler.EtaMin) * (1 + Math.Cos(Math.PI * progress)) / 2;
    }
}
