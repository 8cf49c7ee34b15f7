using TorchSharp;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

[Collection(ProcessWide.Name)]
public sealed class FlowMatchingTests : IDisposable
{
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose() => _scope.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    public void Euler_recovers_the_data_point_of_a_linear_flow_from_its_exact_velocity(int steps)
    {
        // x_t = t·ε + (1 − t)·a has constant velocity ε − a; in field form v(x, t) = (x − a) / t.
        var data = tensor(new[] { 0.3f, -0.7f, 0.5f }).view(1, 1, 3);
        var noise = tensor(new[] { -1.2f, 0.4f, 2.0f }).view(1, 1, 3);
        var result = EulerIntegrator.Integrate((x, t) => (x - data) / t.view(-1, 1, 1), noise, steps);
        Tolerance.Close(data, result, 1e-5, "Euler endpoint");
    }

    [Fact]
    public void Euler_visits_times_from_one_down_to_one_over_steps()
    {
        var seen = new List<float>();
        EulerIntegrator.Integrate((x, t) => { seen.Add(t.item<float>()); return zeros_like(x); }, zeros(1, 1, 1), 4);
        Assert.Equal([1f, 0.75f, 0.5f, 0.25f], seen);
    }

    [Fact]
    public void Flow_times_follow_Beta_1_5_1_scaled_into_0_001_1()
    {
        using var generator = new Generator(3);
        var t = FlowMatching.SampleTime(20000, generator);
        Assert.InRange(t.min().item<float>(), 0.001f, 1f);
        Assert.Equal(0.6 * 0.999 + 0.001, t.mean().item<float>(), 0.01); // E[Beta(1.5, 1)] = 1.5 / 2.5
    }

    [Fact]
    public void A_head_trained_on_one_batch_samples_chunks_that_approach_the_target_as_steps_grow()
    {
        manual_seed(1);
        var config = new Vla.Config.ActionHeadConfig { Horizon = 3, PerActionDim = 2, ActionDim = 6, HiddenDim = 32, NumLayers = 1, NumHeads = 4, MlpHiddenDims = [32], DropoutProb = 0 };
        using var head = new FlowMatchingHead(config, contextDim: 8, new DropoutMasks());
        var context = randn(2, 5, 8);
        var contextMask = ones(2, 5, ScalarType.Bool);
        var target = tensor(new[] { 0.5f, -0.5f, 0.2f, 0.1f, -0.3f, 0.8f, -0.6f, 0.4f, 0.9f, -0.2f, 0.0f, 0.3f }).view(2, 3, 2);
        using var optimizer = optim.AdamW(head.parameters(), 3e-3);
        using var generator = new Generator(2);
        for (int step = 0; step < 600; step++)
        {
            using var stepScope = NewDisposeScope();
            var noise = randn([2, 3, 2], generator: generator);
            var time = FlowMatching.SampleTime(2, generator).view(-1, 1, 1);
            var velocity = head.forward(time * noise + (1 - time) * target, time.view(-1), context, contextMask);
            var loss = (velocity - (noise - target)).pow(2).mean();
            loss.backward();
            optimizer.step();
            optimizer.zero_grad();
        }
        using var noGrad = no_grad();
        var start = randn([2, 3, 2], generator: new Generator(9));
        double Error(int steps) => (EulerIntegrator.Integrate((x, t) => head.forward(x, t, context, contextMask), start, steps) - target).pow(2).mean().item<float>();
        double one = Error(1), ten = Error(10), fifty = Error(50);
        Assert.True(ten < one, $"10 steps ({ten:G3}) should beat 1 step ({one:G3})");
        Assert.True(fifty < 0.02, $"50 steps should land near the target (MSE {fifty:G3})");
    }
}
