using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Tokenization;
using static TorchSharp.torch;

namespace Vla.Tests.Model.Pi0;

/// <summary>The prompts pi0 and pi0.5 tokenize, as LeRobot's processors write them.</summary>
public sealed class Pi0TransformTests
{
    [Theory]
    [InlineData(-1.0f, 0)]
    [InlineData(-1.0000001f, -1)]
    [InlineData(-3f, -1)]
    [InlineData(0f, 128)]
    [InlineData(-1e-20f, 127)]
    [InlineData(-0.0078125f, 127)]
    [InlineData(0.99f, 254)]
    [InlineData(0.9921875f, 255)]
    [InlineData(1f, 255)]
    [InlineData(7f, 255)]
    public void A_state_value_falls_in_numpys_digitize_bin(float value, int bin) => Assert.Equal(bin, Pi05Transform.Bin(value));

    [Fact]
    public void LeRobots_normalization_sends_a_constant_dimension_at_its_low_quantile_to_minus_one()
    {
        var dim = new Vla.Data.DimensionStats { Min = [0f, -1f], Max = [0f, 3f], Mean = [0f, 1f], Std = [0f, 2f], Q01 = [0.5f, -1f], Q99 = [0.5f, 3f], Count = 10 };
        var stats = new Vla.Data.NormalizationStats { State = dim, Action = dim };
        float[] quantile = [0.5f, 1f];
        Vla.Data.Normalizer.LeRobot(stats, Vla.Data.NormalizationMode.Quantile).NormalizeState(quantile);
        Assert.Equal([-1f, 0f], quantile);                                  // LeRobot: 2 (x − q01) / (q99 − q01 or 1e-8) − 1
        float[] ours = [0.5f, 1f];
        new Vla.Data.Normalizer(stats, Vla.Data.NormalizationMode.Quantile).NormalizeState(ours);
        Assert.Equal([0f, 0f], ours);                                       // the workbench's own: a degenerate dimension is 0
        float[] zscore = [3f, 3f];
        var lerobot = Vla.Data.Normalizer.LeRobot(stats, Vla.Data.NormalizationMode.ZScore);
        lerobot.NormalizeActions(zscore);
        Assert.Equal(1f, zscore[1], 1e-6f);
        lerobot.DenormalizeActions(zscore);
        Assert.Equal(3f, zscore[1], 1e-5f);
    }

    [Fact]
    public void Pi05_writes_the_cleaned_task_and_the_binned_state_into_the_prompt() =>
        Assert.Equal("Task: pick up the red cube, State: 128 0 255 -1;\nAction: ",
                     Pi05Transform.Prompt("  pick_up the\nred cube ", [0f, -1f, 1.5f, -2f]));

    [Fact]
    public void Pi0_appends_a_newline_once_and_leaves_the_task_as_it_is()
    {
        Assert.Equal(" pick_up \n", Pi0Transform.Prompt(" pick_up "));
        Assert.Equal("pick up\n", Pi0Transform.Prompt("pick up\n"));
    }

    [Fact]
    public void Each_observation_gets_its_own_state_in_its_prompt()
    {
        var tokenizer = PaliGemmaTokenizer.Sample();
        var transform = new Pi05Transform(tokenizer, 200);
        var batch = transform.EncodePrompts(["pick up the cube", "pick up the cube"], [0f, 0f, 0.5f, 0.5f]);
        var first = batch.Ids.Take(batch.Length).Where((_, i) => batch.Mask[i]).ToArray();
        var second = batch.Ids.Skip(batch.Length).Where((_, i) => batch.Mask[batch.Length + i]).ToArray();
        Assert.Equal(tokenizer.EncodeText(Pi05Transform.Prompt("pick up the cube", [0f, 0f]), 200, out _), first);
        Assert.Equal(tokenizer.EncodeText(Pi05Transform.Prompt("pick up the cube", [0.5f, 0.5f]), 200, out _), second);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Guidance_pulls_the_values_the_previous_chunk_does_not_cover_to_zero_as_LeRobot()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 4, 5);
        var time = full([1], 0.5f);
        var guidance = new ChunkGuidance(zeros(1, 4, 3), ones(1, 4));
        Tensor Velocity(Tensor y) => y * 0.5;
        var guided = guidance.Velocity(Velocity, x, time, 0.5);
        var padded = new ChunkGuidance(zeros(1, 4, 5), ones(1, 4)).Velocity(Velocity, x, time, 0.5);
        Assert.Equal(0f, (guided - padded).abs().max().item<float>());
        Assert.True((guided - Velocity(x)).abs().max().item<float>() > 0.01f);
    }
}
