using Vla.Evaluation;
using Vla.Inference;
using Vla.Runtime;
using Vla.Tests.Training;
using Vla.Training;

[assembly: AssemblyFixture(typeof(TrainedCheckpoint))]

namespace Vla.Tests.Evaluation;

[Collection(ProcessWide.Name)]
public sealed class EvaluatorTests(TrainedCheckpoint trained)
{
    private readonly TrainingFixture _fixture = trained.Fixture;
    private readonly string _checkpoint = trained.Path;

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
}
