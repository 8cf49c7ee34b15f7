using Vla.Data;
using Vla.Evaluation;
using Vla.Data.Loading;

namespace Vla.Tests.Evaluation;

public class EvalMetricsTests
{
    /// <summary>One action dimension spanning [0, 10] (mean 4): normalized = x / 5 − 1.</summary>
    private static Normalizer Normalizer()
    {
        DimensionStats Dims() => new() { Min = [0f], Max = [10f], Mean = [4f], Std = [1f], Q01 = [0f], Q99 = [10f], Count = 10 };
        return new Normalizer(new NormalizationStats { State = Dims(), Action = Dims() }, NormalizationMode.MinMax);
    }

    private static float[] N(params float[] raw) => raw.Select(x => x / 5f - 1f).ToArray();

    [Fact]
    public void Errors_are_in_data_units_and_padded_steps_never_count()
    {
        var metrics = new EvalMetrics(Normalizer(), horizon: 3, bins: 4);
        // Window 1: predicted [2, 6, 9], truth [4, 5, 0]; the last step is padding.
        metrics.Add(N(2, 6, 9), N(4, 5, 0), [4, 5, 0], [true, true, false]);
        // Window 2: predicted [5, 5, 5], truth [5, 8, 1]: all real.
        metrics.Add(N(5, 5, 5), N(5, 8, 1), [5, 8, 1], [true, true, true]);
        // Errors counted: −2, 1 | 0, −3, 4 → squares 4, 1, 0, 9, 16.
        Assert.Equal(5, metrics.Overall.Count);
        Assert.Equal(30.0 / 5, metrics.Overall.Mse, 1e-5);
        Assert.Equal(10.0 / 5, metrics.Overall.Mae, 1e-5);
        Assert.Equal(30.0 / 5 / 25, metrics.Normalized.Mse, 1e-5); // the normalized scale is 1/5
        Assert.Equal((4.0 + 0) / 2, metrics.PerStep[0].Mse, 1e-5);  // step 0: −2, 0
        Assert.Equal((1.0 + 9) / 2, metrics.PerStep[1].Mse, 1e-5);  // step 1: 1, −3
        Assert.Equal(16.0, metrics.PerStep[2].Mse, 1e-5);           // step 2: only window 2's 4
        // Baseline predicts the mean 4: errors 0, −1 | −1, −4, 3 → squares 0, 1, 1, 16, 9.
        Assert.Equal(27.0 / 5, metrics.Baseline.Mse, 1e-5);
        Assert.Equal(2, metrics.Windows);
    }

    [Fact]
    public void Accuracy_counts_values_in_the_same_bin_of_the_normalized_range()
    {
        // 4 bins over [-1, 1]: [-1, -0.5) [-0.5, 0) [0, 0.5) [0.5, 1]; raw x → x / 5 − 1.
        Assert.Equal(0, EvalMetrics.Bin(-1f, 4));
        Assert.Equal(3, EvalMetrics.Bin(1f, 4));
        Assert.Equal(3, EvalMetrics.Bin(7f, 4));   // beyond the range: the end bin
        Assert.Equal(2, EvalMetrics.Bin(0.2f, 4));
        var metrics = new EvalMetrics(Normalizer(), horizon: 2, bins: 4);
        // raw 6 → 0.2 (bin 2) vs 7 → 0.4 (bin 2): same; raw 1 → −0.8 (bin 0) vs 3 → −0.4 (bin 1): different.
        metrics.Add(N(6, 1), N(7, 3), [7, 3], [true, true]);
        Assert.Equal(0.5, metrics.Accuracy, 1e-9);
    }

    [Fact]
    public void Sections_combine_by_counts_not_by_averaging_averages()
    {
        var a = new EvalMetrics(Normalizer(), 1, 4);
        var b = new EvalMetrics(Normalizer(), 1, 4);
        a.Add(N(0), N(2), [2], [true]);      // error² 4
        b.Add(N(1), N(1), [1], [true]);      // 0
        b.Add(N(1), N(1), [1], [true]);      // 0
        var all = new EvalMetrics(Normalizer(), 1, 4);
        all.Add(a);
        all.Add(b);
        Assert.Equal(4.0 / 3, all.Overall.Mse, 1e-5);
        Assert.Equal(3, all.Windows);
    }

    [Fact]
    public void Data_unit_errors_use_the_recorded_actions_even_where_training_saw_a_constant()
    {
        // The training statistics saw the dimension constant at 3: any value normalizes to 0 and maps back to 3.
        DimensionStats Constant() => new() { Min = [3f], Max = [3f], Mean = [3f], Std = [0f], Q01 = [3f], Q99 = [3f], Count = 10 };
        var normalizer = new Normalizer(new NormalizationStats { State = Constant(), Action = Constant() }, NormalizationMode.MinMax);
        var metrics = new EvalMetrics(normalizer, horizon: 2, bins: 4);
        // The evaluation data moves (recorded 5 and 1); the model predicts the constant.
        metrics.Add([0f, 0f], [0f, 0f], [5f, 1f], [true, true]);
        Assert.Equal((4.0 + 4.0) / 2, metrics.Overall.Mse, 1e-6);  // errors 3 − 5 and 3 − 1, not 0
        Assert.Equal((4.0 + 4.0) / 2, metrics.Baseline.Mse, 1e-6); // the mean 3 against the same recorded values
    }
}
