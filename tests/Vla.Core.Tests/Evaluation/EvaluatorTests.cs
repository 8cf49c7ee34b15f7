using Vla.Evaluation;
using Vla.Inference;
using Vla.Runtime;
using Vla.Tests.Training;
using Vla.Training;

namespace Vla.Tests.Evaluation;

public sealed class EvaluatorTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();
    private readonly string _checkpoint;

    public EvaluatorTests()
    {
        var result = Trainer.RunAsync(_fixture.Config(epochs: 1), new Trainer.Options()).GetAwaiter().GetResult();
        _checkpoint = result.BestCheckpoint!;
    }

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task The_same_checkpoint_and_seed_give_the_same_metrics()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        var data = _fixture.Files.PathOf("val");
        var first = EvalReportWriter.MetricsJson(await Evaluator.RunAsync(predictor, [data], new EvalOptions { Seed = 4 }));
        var second = EvalReportWriter.MetricsJson(await Evaluator.RunAsync(predictor, [data], new EvalOptions { Seed = 4 }));
        var other = EvalReportWriter.MetricsJson(await Evaluator.RunAsync(predictor, [data], new EvalOptions { Seed = 5 }));
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Several_datasets_get_a_section_each_and_a_combined_one()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        string train = _fixture.Files.PathOf("train"), val = _fixture.Files.PathOf("val");
        var result = await Evaluator.RunAsync(predictor, [train, val], new EvalOptions());
        Assert.Equal([train, val], result.Datasets.Keys);
        Assert.Equal(result.Datasets[train].Windows + result.Datasets[val].Windows, result.Combined.Windows);
        Assert.Equal(26 + 6, result.Combined.Windows);
        Assert.Equal(3, result.Trajectories.Count);
    }

    [Fact]
    public async Task A_dataset_whose_actions_do_not_fit_the_checkpoint_is_named()
    {
        string path = _fixture.Files.Write("wide.parquet", [TestFiles.Episode(4, actionDim: 5)]);
        using var predictor = VlaPredictor.Load(_checkpoint);
        var e = await Assert.ThrowsAsync<BadInputException>(() => Evaluator.RunAsync(predictor, [path], new EvalOptions()));
        Assert.Equal($"{path}: its actions have 5 values but the checkpoint predicts per_action_dim = 2.", e.Message);
    }

    [Fact]
    public async Task A_dataset_without_an_action_column_is_named()
    {
        string path = _fixture.Files.Write("noaction.parquet", [TestFiles.Episode(4)], "action");
        using var predictor = VlaPredictor.Load(_checkpoint);
        var e = await Assert.ThrowsAsync<BadInputException>(() => Evaluator.RunAsync(predictor, [path], new EvalOptions()));
        Assert.StartsWith($"{path}, column 'action': required column is missing", e.Message);
    }

    [Fact]
    public void Predictions_are_denormalized_chunks_and_reproducible_with_a_seed()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        var image = TestFiles.Png(8, 8, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10));
        var observation = new RobotObservation([image], [image], "pick up the red cube", [1f, 11f, 21f]);
        var a = predictor.Predict(observation, seed: 3);
        var b = predictor.Predict(observation, seed: 3);
        Assert.Equal((3, 2), (a.Horizon, a.PerActionDim));
        Assert.Equal(a.Values, b.Values);
        Assert.NotEqual(a.Values, predictor.Predict(observation, seed: 4).Values);
        Assert.Equal(2, predictor.PredictBatch([observation, observation with { Prompt = "pick up the blue cube" }], seed: 1).Count);
        Assert.Contains("\"per_action_dim\": 2", a.ToJson());
    }

    [Fact]
    public void A_wrong_number_of_state_values_is_bad_input()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        var image = TestFiles.Png(8, 8, new SixLabors.ImageSharp.PixelFormats.Rgb24(1, 2, 3));
        var e = Assert.Throws<BadInputException>(() => predictor.Predict(new RobotObservation([image], [image], "x", [1f, 2f])));
        Assert.Equal("Observation 0: expected 3 state values (data.state_dim), got 2.", e.Message);
    }
}
