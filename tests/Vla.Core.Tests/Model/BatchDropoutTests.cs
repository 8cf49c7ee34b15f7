using Vla.Model;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

public sealed class BatchDropoutTests
{
    /// <summary>Dropout of ones shaped (rows, 3, 5) with <paramref name="source"/>'s masks; restores no source afterwards.</summary>
    private static float[] Masks(BatchDropout.MaskSource source, long rows)
    {
        BatchDropout.Source = source;
        try
        {
            using var output = BatchDropout.Apply(ones(rows, 3, 5), 0.5, training: true);
            return output.data<float>().ToArray();
        }
        finally
        {
            BatchDropout.Source = null;
        }
    }

    [Fact]
    public void Two_ranks_drop_exactly_what_one_process_drops_each_for_its_own_samples()
    {
        var one = Masks(new BatchDropout.MaskSource(new Generator(3), GlobalBatch: 4, Offset: 0, LocalBatch: 4), 4);
        var rank0 = Masks(new BatchDropout.MaskSource(new Generator(3), 4, 0, 2), 2);
        var rank1 = Masks(new BatchDropout.MaskSource(new Generator(3), 4, 2, 2), 2);
        Assert.Equal(one, rank0.Concat(rank1).ToArray());
        Assert.NotEqual(rank0, rank1);                       // torch's dropout would give both ranks the same masks
        Assert.All(one, v => Assert.True(v is 0f or 2f));    // kept units scaled by 1 / (1 − p)
    }

    [Fact]
    public void Rows_of_samples_times_cameras_are_cut_by_sample()
    {
        // SigLIP sees samples × cameras rows in sample-major order: rank 1's two samples are rows 4 … 7 of 8.
        var one = Masks(new BatchDropout.MaskSource(new Generator(5), 4, 0, 4), 8);
        var rank1 = Masks(new BatchDropout.MaskSource(new Generator(5), 4, 2, 2), 4);
        Assert.Equal(one[(one.Length / 2)..], rank1);
    }

    [Fact]
    public void Masks_follow_the_generator_so_a_restored_state_repeats_them()
    {
        using var generator = new Generator(9);
        using var state = generator.get_state();
        var first = Masks(new BatchDropout.MaskSource(generator, 2, 0, 2), 2);
        generator.set_state(state);
        Assert.Equal(first, Masks(new BatchDropout.MaskSource(generator, 2, 0, 2), 2));
    }

    [Fact]
    public void Outside_training_it_changes_nothing()
    {
        using var x = randn(2, 3);
        using var y = BatchDropout.Apply(x, 0.5, training: false);
        Assert.True(x.eq(y).all().item<bool>());
    }
}
