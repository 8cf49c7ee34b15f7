using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// Real-time chunking's guidance (Black, Galliker, Levine 2025, "Real-Time Execution of Action Chunking Flow
/// Policies"): while a robot still executes the previous chunk, the new chunk is denoised so that its first steps
/// agree with the actions that will run before it arrives. Each Euler step corrects the velocity by the
/// vector-Jacobian product of the weighted error between the previous chunk and the current estimate of the clean
/// chunk (x̂₁ = x − t·v in this model's time, t = 1 noise → 0 data), scaled by the ΠGDM weight
/// (τ² + (1 − τ)²) / (τ(1 − τ)) with τ = 1 − t, capped at <see cref="MaxWeight"/>.
/// With <see cref="ExactJacobian"/> the product goes through the head with autograd, as the paper's algorithm does;
/// without it the Jacobian is taken as the identity, which is what LeRobot's implementation computes (its operation
/// order leaves x out of the graph), at a third of the cost.
/// </summary>
/// <param name="Previous">(B, horizon, D) the previous chunk's remaining actions, normalized, aligned to the new chunk's steps, zero-padded;
/// D may be less than the values the policy integrates (pi0's padding to <c>max_action_dim</c>): the previous chunk is then
/// zero-padded and every value guided, as LeRobot's RTC does, which holds the padding at 0.</param>
/// <param name="Weights">(B, horizon) how strongly each step is held to <paramref name="Previous"/>; rows of zeros leave an item unguided.</param>
/// <param name="MaxWeight">The guidance weight's cap (the paper and LeRobot: 10 for 10 steps).</param>
/// <param name="ExactJacobian">The vector-Jacobian product through the head (the paper); false uses the identity, as LeRobot's code ends up doing.</param>
public sealed record ChunkGuidance(Tensor Previous, Tensor Weights, double MaxWeight = ChunkGuidance.DefaultMaxWeight, bool ExactJacobian = false)
{
    /// <summary>The paper's and LeRobot's cap on the guidance weight.</summary>
    public const double DefaultMaxWeight = 10.0;

    /// <summary>
    /// The prefix weights over a chunk of <paramref name="horizon"/> steps, as LeRobot's <c>get_prefix_weights</c>: 1 for the
    /// <paramref name="delay"/> steps executed before the new chunk arrives, then decaying by <paramref name="schedule"/> from w
    /// linear from 1 to 0 (both exclusive), and 0 from <paramref name="end"/> on (the end of what the previous chunk still covers).
    /// </summary>
    public static float[] PrefixWeights(int delay, int end, int horizon, PrefixSchedule schedule = PrefixSchedule.Linear)
    {
        end = Math.Clamp(end, 0, horizon);
        delay = Math.Clamp(Math.Min(delay, end), 0, horizon);
        var weights = new float[horizon];
        for (int i = 0; i < delay; i++) weights[i] = 1f;
        int soft = end - delay;
        for (int k = 0; k < soft; k++)
        {
            double w = 1.0 - (k + 1.0) / (soft + 1.0);   // linspace(1, 0, soft + 2)[1:-1]
            weights[delay + k] = schedule switch
            {
                PrefixSchedule.Exp => (float)(w * (Math.Exp(w) - 1) / (Math.E - 1)),
                PrefixSchedule.Linear => (float)w,
                PrefixSchedule.Ones => 1f,
                _ => 0f,
            };
        }
        return weights;
    }

    /// <summary>The ΠGDM guidance weight at flow time <paramref name="time"/> (1 = noise), capped at <see cref="MaxWeight"/>.</summary>
    public double WeightAt(double time)
    {
        double tau = 1 - time;
        if (tau <= 0 || tau >= 1) return tau <= 0 ? MaxWeight : 0;
        return Math.Min(MaxWeight, (tau * tau + (1 - tau) * (1 - tau)) / (tau * (1 - tau)));
    }

    /// <summary>
    /// The guided velocity at (<paramref name="x"/>, <paramref name="time"/>): <paramref name="velocity"/>'s value minus
    /// the weighted vector-Jacobian product. Runs <paramref name="velocity"/> with gradients on, whatever the caller's mode.
    /// </summary>
    public Tensor Velocity(Func<Tensor, Tensor> velocity, Tensor x, Tensor time, double t)
    {
        using var scope = NewDisposeScope();
        if (!ExactJacobian)
        {
            var plain = velocity(x);
            var gap = Gap(x - time.view(-1, 1, 1) * plain);
            return (plain - WeightAt(t) * gap).MoveToOuterDisposeScope();
        }
        using var grad = enable_grad();
        var input = x.detach().requires_grad_(true);
        var v = velocity(input);
        var estimate = input - time.view(-1, 1, 1) * v;                                 // x̂₁, the clean chunk's estimate
        var error = Gap(estimate).detach();
        var correction = autograd.grad([estimate], [input], [error])[0];
        return (v.detach() - WeightAt(t) * correction).MoveToOuterDisposeScope();
    }

    /// <summary>The weighted gap between the previous chunk, zero-padded to the estimate's width, and <paramref name="estimate"/>.</summary>
    private Tensor Gap(Tensor estimate)
    {
        long covered = Previous.shape[^1], all = estimate.shape[^1];
        var previous = covered == all ? Previous : nn.functional.pad(Previous, [0, all - covered]);
        return (previous - estimate) * Weights.unsqueeze(-1);
    }
}

/// <summary>How the guidance weight falls off after the frozen steps (LeRobot's <c>prefix_attention_schedule</c>).</summary>
public enum PrefixSchedule
{
    /// <summary>Only the frozen steps are guided.</summary>
    Zeros,
    /// <summary>Every step the previous chunk covers, fully.</summary>
    Ones,
    /// <summary>Linear decay from 1 to 0.</summary>
    Linear,
    /// <summary>The paper's soft mask: w·(eʷ − 1)/(e − 1) of the linear decay.</summary>
    Exp,
}
