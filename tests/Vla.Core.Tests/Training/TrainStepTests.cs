using Vla.Data.Loading;
using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Tests.Training;

[Collection(ProcessWide.Name)]
public sealed class TrainStepTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Training_steps_leave_no_tensor_behind(bool checkpointing)
    {
        // Dropout draws masks and recomputed layers hand gradients back: both must be freed with the step.
        var config = _fixture.Config(dropout: 0.1) with { Training = _fixture.Config().Training with { GradientCheckpointing = checkpointing } };
        using var model = Policies.Build(config, 2);
        model.train();
        using var step = new TrainStep(model, config);
        using var noise = new StepNoise(3);
        using var generator = new Generator(5);
        using var batch = new VlaBatch
        {
            Input = TrainingFixture.Input(model.Tokenizer, generator),
            Actions = randn([2, 3, 2], generator: generator), ActionMask = ones(2, 3, ScalarType.Bool),
            Prompts = ["a", "b"], Windows = [new Window(0, 0), new Window(0, 1)],
        };
        for (int i = 0; i < 2; i++) step.Run(batch, noise, 1e-3);   // AdamW's moments and the master copies exist after the first
        long Live() => TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long before = Live();
        for (int i = 0; i < 3; i++) step.Run(batch, noise, 1e-3);
        Assert.Equal(before, Live());
        Assert.Equal(checkpointing ? 3 * 4 : 0, model.Recomputations - (checkpointing ? 2 * 4 : 0));   // 2 SigLIP + 2 Gemma layers a step
    }
}
