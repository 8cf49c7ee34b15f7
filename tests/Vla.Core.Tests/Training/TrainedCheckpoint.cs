using Vla.Training;

namespace Vla.Tests.Training;

/// <summary>
/// One epoch of the <see cref="TrainingFixture"/> policy, trained once for the whole assembly (evaluation and prediction
/// tests read it; none writes to it).
/// </summary>
public sealed class TrainedCheckpoint : IDisposable
{
    internal TrainingFixture Fixture { get; } = new();

    /// <summary>The model_best folder.</summary>
    public string Path { get; }

    public TrainedCheckpoint() => Path = Trainer.RunAsync(Fixture.Config(epochs: 1), new Trainer.Options()).GetAwaiter().GetResult().BestCheckpoint!;

    public void Dispose() => Fixture.Dispose();
}
