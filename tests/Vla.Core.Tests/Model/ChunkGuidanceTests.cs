using TorchSharp;
using Vla.Data;
using Vla.Inference;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

/// <summary>Real-time chunking: the prefix weights, the guidance weight, the guided velocity and the request checks.</summary>
[Collection(ProcessWide.Name)]
public sealed class ChunkGuidanceTests : IDisposable
{
    private readonly DisposeScope _scope;

    public ChunkGuidanceTests()
    {
        TorchRuntime.EnsureReady();   // this class may run first (a filtered run)
        _scope = NewDisposeScope();
    }

    public void Dispose() => _scope.Dispose();

    [Fact]
    public void Prefix_weights_hold_the_delay_then_decay_as_LeRobot_schedules_them()
    {
        // LeRobot's get_prefix_weights(2, 5, 8, LINEAR): ones for the delay, linspace(1, 0, 5)[1:-1] for the soft steps, then zeros.
        Assert.Equal([1f, 1f, 0.75f, 0.5f, 0.25f, 0f, 0f, 0f], ChunkGuidance.PrefixWeights(2, 5, 8));
        Assert.Equal([1f, 1f, 1f, 1f, 1f, 0f, 0f, 0f], ChunkGuidance.PrefixWeights(2, 5, 8, PrefixSchedule.Ones));
        Assert.Equal([1f, 1f, 0f, 0f, 0f, 0f, 0f, 0f], ChunkGuidance.PrefixWeights(2, 5, 8, PrefixSchedule.Zeros));
        var exp = ChunkGuidance.PrefixWeights(2, 5, 8, PrefixSchedule.Exp);
        Assert.Equal(0.75 * (Math.Exp(0.75) - 1) / (Math.E - 1), exp[2], 6);
        Assert.Equal([1f, 1f, 1f, 0.5f], ChunkGuidance.PrefixWeights(3, 9, 4));   // the end is clamped to the horizon: one soft step
    }

    [Fact]
    public void The_guidance_weight_follows_the_pigdm_formula_and_is_capped()
    {
        var guidance = new ChunkGuidance(zeros(1, 1, 1), ones(1, 1), MaxWeight: 5);
        Assert.Equal(5, guidance.WeightAt(1.0));                         // pure noise: the cap, as LeRobot's nan_to_num(posinf=max) gives
        Assert.Equal((0.25 + 0.25) / 0.25, guidance.WeightAt(0.5), 9);    // τ = 0.5: (τ² + (1 − τ)²) / (τ(1 − τ)) = 2
        Assert.Equal(5, guidance.WeightAt(0.05));                        // capped near the data end
    }

    [Fact]
    public void The_exact_vector_jacobian_product_matches_its_closed_form_for_a_linear_velocity()
    {
        // v(x) = x − c gives x̂ = x − t·(x − c), so dx̂/dx = (1 − t)·I: the exact correction is (1 − t) times the identity one.
        var c = tensor(new[] { 0.5f, -0.5f, 0.2f, 0.1f }).view(1, 2, 2);
        var x = tensor(new[] { 1f, 2f, -1f, 0f }).view(1, 2, 2);
        var previous = tensor(new[] { 0.3f, 0.3f, 0.3f, 0.3f }).view(1, 2, 2);
        var weights = tensor(new[] { 1f, 0.5f }).view(1, 2);
        double t = 0.4;
        var time = full(1, t);
        Func<Tensor, Tensor> velocity = input => input - c;
        var identity = new ChunkGuidance(previous, weights).Velocity(velocity, x, time, t);
        var exact = new ChunkGuidance(previous, weights, ExactJacobian: true).Velocity(velocity, x, time, t);
        var plain = x - c;
        Tolerance.Close((plain - identity) * (1 - t), plain - exact, 1e-5, "exact correction");
        Assert.False(exact.requires_grad);
    }

    [Fact]
    public void Guided_euler_sampling_ends_at_the_previous_chunk_where_the_weights_are_one()
    {
        // A linear field (v = x − c) whose flow shrinks every point towards c; guidance with weight 1 on the first step pulls it to `previous`.
        var c = zeros(1, 3, 2);
        var previous = tensor(new[] { 1f, -1f, 0f, 0f, 0f, 0f }).view(1, 3, 2);
        var guidance = new ChunkGuidance(previous, tensor(new[] { 1f, 0f, 0f }).view(1, 3));
        var noise = tensor(new[] { 0.3f, 0.2f, -0.4f, 0.6f, 0.1f, -0.2f }).view(1, 3, 2);
        var result = EulerIntegrator.Integrate((x, time, t) => guidance.Velocity(input => input - c, x, time, t), noise, 10);
        var unguided = EulerIntegrator.Integrate((x, _) => x - c, noise, 10);
        Assert.True((result[0, 0] - previous[0, 0]).abs().max().item<float>() < 0.02f, "the held step reaches the previous chunk");
        Assert.True((unguided[0, 0] - previous[0, 0]).abs().max().item<float>() > 0.5f, "unguided, it does not");
        Tolerance.Close(unguided[0, 1..], result[0, 1..], 1e-5, "unweighted steps");
    }

    [Theory]
    [InlineData(new float[] { 1, 2, 3 }, 0, null, "prev_chunk has 3 values, not a whole number of 2-value actions (per_action_dim).")]
    [InlineData(new float[] { 1, 2, 3, 4 }, 3, null, "inference_delay is 3, but it must be between 0 and the 2 actions prev_chunk holds.")]
    [InlineData(new float[] { 1, 2, 3, 4 }, 1, 5, "execution_horizon is 5, but it must be between inference_delay (1) and the horizon (4).")]
    [InlineData(new float[] { 1, float.NaN }, 0, null, "prev_chunk contains NaN or infinite values.")]
    public void A_bad_request_is_named_in_one_sentence(float[] previous, int delay, int? horizon, string expected)
    {
        var error = Assert.Throws<BadInputException>(() => new RtcRequest(previous, delay, horizon).Validate(4, 2, "Request 3"));
        Assert.Equal($"Request 3: {expected}", error.Message);
    }

    [Fact]
    public void A_request_is_normalized_truncated_to_the_horizon_and_zero_padded()
    {
        var normalizer = new Normalizer(Stats([0f], [10f]), NormalizationMode.MinMax);
        var (previous, weights) = new RtcRequest([0f, 5f, 10f], 1).Prepare(2, 1, normalizer, PrefixSchedule.Linear, "r");
        Assert.Equal([-1f, 0f], previous);      // min_max maps [0, 10] to [−1, 1]; the third action is past the horizon
        Assert.Equal([1f, 0.5f], weights);      // one held step, then the soft one; rows = horizon = 2, so the end is 2

        (previous, weights) = new RtcRequest([10f], 0).Prepare(3, 1, normalizer, PrefixSchedule.Linear, "r");
        Assert.Equal([1f, 0f, 0f], previous);
        Assert.Equal([0.5f, 0f, 0f], weights);
    }

    private static NormalizationStats Stats(float[] min, float[] max)
    {
        DimensionStats Dims(float[] lo, float[] hi) => new() { Min = lo, Max = hi, Mean = new float[lo.Length], Std = Enumerable.Repeat(1f, lo.Length).ToArray(), Count = 1 };
        return new NormalizationStats { State = Dims(min, max), Action = Dims(min, max) };
    }

    [Fact]
    public void Replay_boundaries_are_where_each_later_chunk_takes_over()
    {
        Assert.Equal([3, 5, 7, 9], ChunkReplay.BoundarySteps(10, 2, 1));
        Assert.Equal([4, 8], ChunkReplay.BoundarySteps(10, 4, 0));
    }
}
