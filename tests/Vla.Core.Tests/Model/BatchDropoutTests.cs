using Vla.Model;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

[Collection(ProcessWide.Name)]
public sealed class BatchDropoutTests
{
    /// <summary>Dropout of ones shaped (rows, 3, 5) with <paramref name="source"/>'s masks, drawn by a model's own mask holder.</summary>
    private static float[] Masks(DropoutMasks.Source source, long rows)
    {
        var masks = new DropoutMasks();
        using (masks.Use(source))
        {
            using var output = masks.Apply(ones(rows, 3, 5), 0.5, training: true);
            return output.data<float>().ToArray();
        }
    }

    [Fact]
    public void Two_ranks_drop_exactly_what_one_process_drops_each_for_its_own_samples()
    {
        var one = Masks(new DropoutMasks.Source(() => 3, globalBatch: 4, offset: 0, localBatch: 4), 4);
        var rank0 = Masks(new DropoutMasks.Source(() => 3, 4, 0, 2), 2);
        var rank1 = Masks(new DropoutMasks.Source(() => 3, 4, 2, 2), 2);
        Assert.Equal(one, rank0.Concat(rank1).ToArray());
        Assert.NotEqual(rank0, rank1);                       // torch's dropout would give both ranks the same masks
        Assert.All(one, v => Assert.True(v is 0f or 2f));    // kept units scaled by 1 / (1 − p)
    }

    [Fact]
    public void Rows_of_samples_times_cameras_are_cut_by_sample()
    {
        // SigLIP sees samples × cameras rows in sample-major order: rank 1's two samples are rows 4 … 7 of 8.
        var one = Masks(new DropoutMasks.Source(() => 5, 4, 0, 4), 8);
        var rank1 = Masks(new DropoutMasks.Source(() => 5, 4, 2, 2), 4);
        Assert.Equal(one[(one.Length / 2)..], rank1);
    }

    [Fact]
    public void A_recomputed_call_repeats_its_masks_and_the_next_call_draws_new_ones()
    {
        var source = new DropoutMasks.Source(() => 9, 2, 0, 2);
        var first = Masks(source, 2);
        var second = Masks(source, 2);
        Assert.NotEqual(first, second);  // each call of a step its own masks
        source.Calls = 0;                // as ActivationCheckpoint does before running a layer again
        Assert.Equal(first, Masks(source, 2));
    }

    [Fact]
    public void A_sample_keeps_its_mask_whatever_the_padding_after_it()
    {
        // Ranks pad prompts to their own longest: a sample's mask for its real tokens must not depend on that.
        var masks = new DropoutMasks();
        Tensor shortPadding, longPadding;
        using (masks.Use(new DropoutMasks.Source(() => 4, 2, 0, 2))) shortPadding = masks.Apply(ones(2, 6, 5), 0.5, training: true);
        using (masks.Use(new DropoutMasks.Source(() => 4, 2, 0, 2))) longPadding = masks.Apply(ones(2, 9, 5), 0.5, training: true);
        Assert.True(shortPadding.eq(longPadding.narrow(1, 0, 6)).all().item<bool>());
    }

    [Fact]
    public void Without_dropout_nothing_is_drawn()
    {
        bool drawn = false;
        var masks = new DropoutMasks();
        using (masks.Use(new DropoutMasks.Source(() => { drawn = true; return 1; }, 2, 0, 2)))
        {
            using var output = masks.Apply(ones(2, 3), 0.0, training: true);
        }
        Assert.False(drawn); // the sample config's generator stream stays what it was
    }

    [Fact]
    public void Outside_training_it_changes_nothing()
    {
        using var x = randn(2, 3);
        using var y = new DropoutMasks().Apply(x, 0.5, training: false);
        Assert.True(x.eq(y).all().item<bool>());
    }

    [Fact]
    public void A_step_of_one_model_leaves_another_models_dropout_alone()
    {
        // Masks belong to a model: a second model running beside a training step (a test, a notebook) draws as torch does.
        var training = new DropoutMasks();
        var other = new DropoutMasks();
        using (training.Use(new DropoutMasks.Source(() => 2, 2, 0, 2)))
        {
            Assert.NotNull(training.Current);
            Assert.Null(other.Current);
        }
        Assert.Null(training.Current);
    }
}
