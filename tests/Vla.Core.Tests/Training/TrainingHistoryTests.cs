using Vla.Runtime;
using Vla.Training;

namespace Vla.Tests.Training;

public sealed class TrainingHistoryTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private string Run(string metrics)
    {
        string dir = _files.PathOf("run");
        Directory.CreateDirectory(Path.Combine(dir, "logs"));
        File.WriteAllText(Path.Combine(dir, "logs", "metrics.jsonl"), metrics);
        return dir;
    }

    [Fact]
    public void A_runs_metrics_read_back_as_steps_and_epochs_with_validation()
    {
        var history = TrainingHistory.Load(Run(
            "{\"type\":\"step\",\"step\":10,\"epoch\":1,\"loss\":0.9,\"lr\":0.001}\n" +
            "{\"type\":\"epoch\",\"step\":10,\"epoch\":1,\"train_loss\":0.8,\"lr\":0.001,\"val_loss\":0.7,\"val_action_mse\":0.6,\"val_baseline_mse\":0.9}\n" +
            "{\"type\":\"epoch\",\"step\":20,\"epoch\":2,\"train_loss\":0.5,\"lr\":0.001}\n"));
        Assert.Equal([new TrainingHistory.StepLoss(10, 1, 0.9)], history.Steps);
        Assert.Equal(new TrainingHistory.EpochSummary(1, 10, 0.8, new ValidationMetrics(0.7, 0.6, 0.9)), history.Epochs[0]);
        Assert.Null(history.Epochs[1].Validation);
    }

    [Fact]
    public void A_last_line_still_being_written_is_left_out()
    {
        var history = TrainingHistory.Load(Run("{\"type\":\"step\",\"step\":1,\"epoch\":1,\"loss\":0.9}\n{\"type\":\"step\",\"st"));
        Assert.Single(history.Steps);
    }

    [Fact]
    public void A_line_that_is_not_a_record_is_named_by_number()
    {
        string dir = Run("{\"type\":\"step\",\"step\":1,\"epoch\":1,\"loss\":0.9}\nnot json\n");
        var e = Assert.Throws<BadInputException>(() => TrainingHistory.Load(dir));
        Assert.StartsWith($"{Path.Combine(dir, "logs", "metrics.jsonl")}, line 2: not a metrics record", e.Message);
    }

    [Fact]
    public void A_folder_without_metrics_says_so()
    {
        var e = Assert.Throws<BadInputException>(() => TrainingHistory.Load(_files.Root));
        Assert.Contains("no such file (is", e.Message);
    }
}
