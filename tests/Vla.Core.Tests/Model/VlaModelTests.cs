using Vla.Checkpoints;
using Vla.Model;
using Vla.Tests.Training;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

public sealed class VlaModelTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public void Without_a_state_token_the_context_mask_outlives_the_prefix_and_a_chunk_samples()
    {
        var config = _fixture.Config();
        config = config with { Model = config.Model with { ActionHeadConfig = config.Model.ActionHeadConfig with { UseStateInput = false } } };
        var (model, tokenizer) = ModelFactory.Create(config, seed: 2);
        using var _ = model;
        using var scope = NewDisposeScope();
        var tokens = tokenizer.EncodeBatch(["pick up the red cube"], 12);
        var input = new PolicyInput(rand([1, 2, 3, 32, 32]) * 2 - 1, tensor(tokens.Ids, [1, tokens.Length]), tensor(tokens.Mask, [1, tokens.Length]), zeros(1, 3));
        var (context, mask) = model.EncodeContext(input);
        Assert.Equal(context.shape[1], mask.shape[1]);              // image tokens + prompt, no state token
        Assert.True(mask.all().item<bool>());                        // readable: not freed with the prefix
        var chunk = model.SampleActions(input, 2);
        Assert.Equal([1L, 3, 2], chunk.shape);
        Assert.True(isfinite(chunk).all().item<bool>());
    }
}
