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
    [InlineData(-0.0078125f, 127)]
    [InlineData(0.99f, 254)]
    [InlineData(0.9921875f, 255)]
    [InlineData(1f, 255)]
    [InlineData(7f, 255)]
    public void A_state_value_falls_in_numpys_digitize_bin(float value, int bin) => Assert.Equal(bin, Pi05Transform.Bin(value));

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
    public void Guidance_leaves_the_values_the_previous_chunk_does_not_cover_unguided()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 4, 5);
        var time = full([1], 0.5f);
        var guidance = new ChunkGuidance(zeros(1, 4, 3), ones(1, 4));
        Tensor Velocity(Tensor y) => y * 0.5;
        var guided = guidance.Velocity(Velocity, x, time, 0.5);
        var plain = Velocity(x);
        Assert.Equal(0f, (guided.narrow(2, 3, 2) - plain.narrow(2, 3, 2)).abs().max().item<float>());
        Assert.True((guided.narrow(2, 0, 3) - plain.narrow(2, 0, 3)).abs().max().item<float>() > 0.01f);
    }
}
