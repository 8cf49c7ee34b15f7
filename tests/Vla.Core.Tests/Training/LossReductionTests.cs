using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Tests.Training;

public sealed class LossReductionTests
{
    [Fact]
    public void The_masked_loss_ignores_chunk_steps_past_the_episode_end()
    {
        var predicted = zeros(1, 3, 2);
        var target = tensor(new[] { 1f, 1f, 1f, 1f, 100f, 100f }).view(1, 3, 2);
        var mask = tensor(new[] { true, true, false }).view(1, 3);
        Assert.Equal(1f, LossReduction.MaskedMse(predicted, target, mask).item<float>(), 1e-6f);
    }

    [Fact]
    public void A_data_parallel_denominator_makes_each_rank_a_share_of_the_global_mean()
    {
        // Two ranks with 3 and 1 valid steps: the global mean is (3·1 + 1·5) / 4 = 2; each rank divides by 4 / 2 = 2.
        var rank0 = LossReduction.MaskedMean(ones(1, 3), ones(1, 3, ScalarType.Bool), denominator: 2).item<float>();
        var rank1 = LossReduction.MaskedMean(full(1, 3, 5f), tensor(new[] { true, false, false }).view(1, 3), denominator: 2).item<float>();
        Assert.Equal(2f, (rank0 + rank1) / 2, 1e-6f);
    }
}
