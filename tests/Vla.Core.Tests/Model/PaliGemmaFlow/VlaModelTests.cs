using Vla.Checkpoints;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Tests.Training;
using static TorchSharp.torch;

namespace Vla.Tests.Model.PaliGemmaFlow;

[Collection(ProcessWide.Name)]
public sealed class VlaModelTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public void Without_a_state_token_the_context_mask_outlives_the_prefix_and_a_chunk_samples()
    {
        var config = _fixture.Config();
        config = config with { Model = config.Model with { ActionHeadConfig = config.Model.ActionHeadConfig with { UseStateInput = false } } };
        var model = Policies.Build(config, 2);
        var tokenizer = model.Tokenizer;
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

    [Fact]
    public void Sampling_with_the_context_keys_and_values_computed_once_equals_euler_over_full_denoise_steps()
    {
        var model = Policies.Build(_fixture.Config(), 3);
        var tokenizer = model.Tokenizer;
        using var _ = model;
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = tokenizer.EncodeBatch(["pick up the red cube", "pick up the blue cube"], 12);
        var input = new PolicyInput(rand([2, 2, 3, 32, 32]) * 2 - 1, tensor(tokens.Ids, [2, tokens.Length]), tensor(tokens.Mask, [2, tokens.Length]), rand(2, 3));
        var noise = randn(2, 3, 2);
        var (context, mask) = model.EncodeContext(input);
        var reference = EulerIntegrator.Integrate((x, t) => model.DenoiseStep(x, t, context, mask), noise, 5);
        Tolerance.Close(reference, model.SampleActions(input, 5, noise), 1e-5, "cached context");
    }
}
