using Vla.Data;

namespace Vla.Tests.Data;

public class DimensionStatsTests
{
    [Fact]
    public void Computes_min_max_mean_population_std_and_numpy_style_quantiles()
    {
        // Values 0..100 in dimension 0; numpy: np.quantile(np.arange(101), [0.01, 0.99]) == [1, 99].
        var vectors = Enumerable.Range(0, 101).Select(i => new[] { (float)i, 5f }).ToList();
        var stats = DimensionStats.Compute(vectors, 2);
        Assert.Equal([0f, 5f], stats.Min);
        Assert.Equal([100f, 5f], stats.Max);
        Assert.Equal(50f, stats.Mean[0], 1e-5f);
        Assert.Equal(MathF.Sqrt(850f), stats.Std[0], 1e-4f); // population variance of 0..100 is 850
        Assert.Equal(0f, stats.Std[1]);
        Assert.Equal(1f, stats.Q01[0], 1e-5f);
        Assert.Equal(99f, stats.Q99[0], 1e-5f);
        Assert.Equal(101, stats.Count);
    }

    [Fact]
    public void Quantiles_interpolate_between_neighbours()
    {
        // numpy: np.quantile([0, 10], 0.01) == 0.1
        Assert.Equal(0.1f, DimensionStats.Quantile([0f, 10f], 0.01), 1e-6f);
        Assert.Equal(7f, DimensionStats.Quantile([7f], 0.99));
    }
}
