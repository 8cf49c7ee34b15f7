using Vla.Checkpoints;
using Vla.Config;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using static TorchSharp.torch;

namespace Vla.Tests.Training;

/// <summary>Recomputing each layer in backward gives the gradients of keeping its activations.</summary>
[Collection(ProcessWide.Name)]
public sealed class GradientCheckpointingTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private Dictionary<string, Tensor> Gradients(VlaConfig config, bool checkpointing)
    {
        config = config with { Training = config.Training with { GradientCheckpointing = checkpointing } };
        var model = Policies.Build(config, 4);
        var tokenizer = model.Tokenizer;
        using var _ = model;
        Assert.Equal(checkpointing, model.GradientCheckpointing);
        model.train();
        using var generator = new Generator(8);
        var input = TrainingFixture.Input(tokenizer, generator);
        var actions = randn([2, 3, 2], generator: generator);
        var noise = randn([2, 3, 2], generator: generator);
        var time = rand([2], generator: generator);
        manual_seed(21); // LoRA dropout draws from the process-wide generator
        model.ComputeLoss(input, actions, noise, time).mean().backward();
        Assert.Equal(checkpointing ? 4 : 0, model.Recomputations); // 2 SigLIP + 2 Gemma layers ran again
        return model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone().DetachFromDisposeScope());
    }

    private void AssertSameGradients(VlaConfig config, int expectedBackboneGradients)
    {
        var kept = Gradients(config, checkpointing: false);
        var recomputed = Gradients(config, checkpointing: true);
        Assert.Equal(kept.Keys.Order(), recomputed.Keys.Order());
        Assert.Equal(expectedBackboneGradients, kept.Keys.Count(k => k.StartsWith("backbone.", StringComparison.Ordinal) && k.Contains(".layers.")));
        foreach (var (name, g) in kept)
        {
            double diff = (g - recomputed[name]).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"{name}: gradients differ by {diff:G3}");
        }
    }

    [Fact]
    public void A_full_fine_tune_gets_the_same_gradients_with_and_without_checkpointing()
    {
        // SigLIP: 2 layers × 16 tensors (2 LayerNorms, 4 attention projections and 2 MLP layers, all biased); Gemma: 2 × 9.
        AssertSameGradients(_fixture.Config(), expectedBackboneGradients: 2 * 16 + 2 * 9);
    }

    [Fact]
    public void Lora_with_dropout_on_a_frozen_base_gets_the_same_gradients_with_and_without_checkpointing()
    {
        var config = _fixture.Config();
        config = config with { Model = config.Model with { Lora = new LoraConfig { Rank = 4, Alpha = 4, Dropout = 0.1, TargetModules = ["q_proj", "down_proj", "vision_tower.fc1"] } } };
        // Adapters only, including the first SigLIP layer's, whose input needs no gradient.
        AssertSameGradients(config, expectedBackboneGradients: (2 + 2 + 2) * 2);
    }
}
