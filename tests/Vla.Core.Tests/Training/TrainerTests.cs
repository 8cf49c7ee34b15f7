using Vla.Checkpoints;
using Vla.Runtime;
using Vla.Training;

namespace Vla.Tests.Training;

[Collection(ProcessWide.Name)]
public sealed class TrainerTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task The_same_config_and_seed_give_the_same_loss_curve()
    {
        var a = await Trainer.RunAsync(_fixture.Config(experiment: "a"), new Trainer.Options());
        var b = await Trainer.RunAsync(_fixture.Config(experiment: "b"), new Trainer.Options());
        Assert.Equal(a.EpochTrainLosses, b.EpochTrainLosses);
        Assert.Equal(a.Validation, b.Validation);
    }

    [Fact]
    public async Task A_history_given_to_the_trainer_records_every_step_and_the_epochs_metrics_jsonl_holds()
    {
        var history = new TrainingHistory();
        int changes = 0;
        history.Changed += _ => changes++;
        var result = await Trainer.RunAsync(_fixture.Config(experiment: "history"), new Trainer.Options { History = history });
        Assert.Equal(result.Steps, history.Steps.Count);
        Assert.Equal(Enumerable.Range(1, (int)result.Steps).Select(s => (long)s), history.Steps.Select(s => s.Step));
        Assert.Equal(result.Steps + result.Epochs, changes);
        var fromLog = TrainingHistory.Load(result.ExperimentDir);
        Assert.Equal(history.Epochs, fromLog.Epochs); // same records, read back from logs/metrics.jsonl
        Assert.Equal(result.Validation, history.Epochs[^1].Validation);
    }

    [Fact]
    public async Task Resuming_after_epoch_2_of_4_reproduces_the_uninterrupted_run()
    {
        var whole = await Trainer.RunAsync(_fixture.Config(epochs: 4, experiment: "whole"), new Trainer.Options());
        var half = await Trainer.RunAsync(_fixture.Config(epochs: 2, experiment: "half"), new Trainer.Options());
        string checkpoint = Path.Combine(half.ExperimentDir, "checkpoints", "checkpoint_epoch_2");
        var resumed = await Trainer.RunAsync(_fixture.Config(epochs: 4, experiment: "half"), new Trainer.Options { ResumeCheckpoint = checkpoint });
        Assert.Equal([3, 4], resumed.EpochTrainLosses.Keys);
        Assert.Equal(whole.EpochTrainLosses[4], resumed.EpochTrainLosses[4], 1e-5);
        Assert.Equal(whole.Validation!.Loss, resumed.Validation!.Loss, 1e-5);
        Assert.Equal(whole.Steps, resumed.Steps);
    }

    [Fact]
    public async Task Resuming_a_run_stopped_inside_an_epoch_finishes_that_epoch_as_the_uninterrupted_run_with_dropout()
    {
        // 26 windows in batches of 4: 7 batches an epoch; the first run stops after batch 3 of epoch 1. Dropout 0.1 draws
        // its masks from the checkpointed generator, so they repeat too.
        var config = _fixture.Config(epochs: 2, experiment: "whole", dropout: 0.1);
        var whole = await Trainer.RunAsync(config, new Trainer.Options());
        var part = await Trainer.RunAsync(config with { Training = config.Training with { ExperimentName = "part", MaxSteps = 3 } }, new Trainer.Options());
        string checkpoint = Path.Combine(part.ExperimentDir, "checkpoints", "checkpoint_epoch_1");
        var state = TrainerState.Load(Path.Combine(checkpoint, CheckpointFiles.TrainerState));
        Assert.Equal((1, 3, 3L), (state.Epoch, state.BatchesInEpoch, state.Step));

        var resumed = await Trainer.RunAsync(config with { Training = config.Training with { ExperimentName = "part" } }, new Trainer.Options { ResumeCheckpoint = checkpoint });
        Assert.Equal(whole.Steps, resumed.Steps);
        Assert.Equal([1, 2], resumed.EpochTrainLosses.Keys);
        Assert.Equal(whole.EpochTrainLosses[1], resumed.EpochTrainLosses[1], 1e-5); // the epoch's mean continues over all 7 batches
        Assert.Equal(whole.EpochTrainLosses[2], resumed.EpochTrainLosses[2], 1e-5);
        Assert.Equal(whole.Validation!.Loss, resumed.Validation!.Loss, 1e-5);
        using var a = Policies.Load(Path.Combine(whole.ExperimentDir, "checkpoints", "checkpoint_epoch_2"));
        using var b = Policies.Load(Path.Combine(resumed.ExperimentDir, "checkpoints", "checkpoint_epoch_2"));
        var bWeights = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        double worst = a.named_parameters().Max(p => (p.parameter - bWeights[p.name]).abs().max().item<float>());
        Assert.True(worst <= 1e-6, $"largest parameter difference {worst:G3}");
    }

    [Fact]
    public async Task A_stop_requested_in_an_epochs_last_batch_saves_it_and_resuming_runs_that_epochs_end_then_goes_on()
    {
        var config = _fixture.Config(epochs: 2, experiment: "whole");
        var whole = await Trainer.RunAsync(config, new Trainer.Options());
        using var stop = new CancellationTokenSource();
        var stopped = await Trainer.RunAsync(config with { Training = config.Training with { ExperimentName = "stopped", SaveOnPreempt = true } },
            new Trainer.Options { Preempt = stop.Token, Progress = p => { if (p.StepInEpoch == p.StepsPerEpoch) stop.Cancel(); } });
        Assert.Equal(Path.Combine(stopped.ExperimentDir, "checkpoints", "checkpoint_epoch_1"), stopped.Preempted);
        Assert.Equal(7, stopped.Steps);
        var state = TrainerState.Load(Path.Combine(stopped.Preempted!, CheckpointFiles.TrainerState));
        Assert.Equal((1, 7), (state.Epoch, state.BatchesInEpoch)); // every batch ran; the epoch's end did not

        var resumed = await Trainer.RunAsync(config with { Training = config.Training with { ExperimentName = "stopped" } }, new Trainer.Options { ResumeCheckpoint = stopped.Preempted });
        Assert.Equal([1, 2], resumed.EpochTrainLosses.Keys);                      // epoch 1's end (validation, record) ran on resume
        Assert.Equal(whole.EpochTrainLosses[1], resumed.EpochTrainLosses[1], 1e-5);
        Assert.Equal(whole.EpochTrainLosses[2], resumed.EpochTrainLosses[2], 1e-5);
        Assert.Equal(whole.Steps, resumed.Steps);
    }

    [Fact]
    public async Task A_stop_requested_before_training_starts_abandons_the_setup()
    {
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Trainer.RunAsync(_fixture.Config(experiment: "never"), new Trainer.Options { Preempt = stop.Token }));
    }

    [Fact]
    public async Task A_run_writes_checkpoints_logs_metrics_and_tensorboard_files()
    {
        var result = await Trainer.RunAsync(_fixture.Config(epochs: 2), new Trainer.Options());
        string checkpoints = Path.Combine(result.ExperimentDir, "checkpoints");
        foreach (var dir in new[] { "model_best", "checkpoint_epoch_1", "checkpoint_epoch_2" })
            foreach (var file in new[] { CheckpointFiles.Model, CheckpointFiles.Optimizer, CheckpointFiles.TrainerState, CheckpointFiles.Tokenizer, CheckpointFiles.BackboneConfig })
                Assert.True(File.Exists(Path.Combine(checkpoints, dir, file)), $"{dir}/{file}");
        var metrics = File.ReadAllLines(Path.Combine(result.ExperimentDir, "logs", "metrics.jsonl"));
        Assert.Contains(metrics, l => l.Contains("\"type\":\"step\"") && l.Contains("\"grad_norm\"") && l.Contains("\"samples_per_s\""));
        Assert.Contains(metrics, l => l.Contains("\"type\":\"epoch\"") && l.Contains("\"val_action_mse\""));
        Assert.Contains("normalization stats", File.ReadAllText(Path.Combine(result.ExperimentDir, "logs", "train.log")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(result.ExperimentDir, "tensorboard"), "*", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetDirectories(checkpoints, "*.tmp-*"));

        var loaded = ModelFactory.FromCheckpoint(Path.Combine(checkpoints, "checkpoint_epoch_2"));
        using var _ = loaded.Policy;
        Assert.Equal(2, loaded.State.Epoch);
        Assert.Equal(result.Steps, loaded.State.Step);
        Assert.Equal(3, loaded.State.NormalizationStats.State.Dim);
    }

    [Fact]
    public void Matrices_decay_and_biases_and_norms_do_not()
    {
        using var model = Policies.Build(_fixture.Config(), 1);
        var groups = TrainStep.ParameterGroups(model.parameters(), 0.01);
        Assert.Equal(0.01, ((TorchSharp.Modules.AdamW.Options)groups[0].Options).weight_decay);
        Assert.Equal(0.0, ((TorchSharp.Modules.AdamW.Options)groups[1].Options).weight_decay);
        Assert.All(groups[0].Parameters, p => Assert.True(p.dim() >= 2));
        Assert.All(groups[1].Parameters, p => Assert.Equal(1, p.dim()));
        Assert.Equal(model.parameters().Count(), groups[0].Parameters.Count() + groups[1].Parameters.Count());
        var norms = model.named_parameters().Where(p => p.name.Contains("norm", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
        Assert.NotEmpty(norms);
        Assert.All(norms, n => Assert.Contains(n, groups[1].Parameters));
    }

    [Fact]
    public async Task An_optimizer_state_of_one_group_is_refused_for_an_exact_resume_naming_the_file()
    {
        var result = await Trainer.RunAsync(_fixture.Config(epochs: 1, experiment: "one-group"), new Trainer.Options());
        string checkpoint = Path.Combine(result.ExperimentDir, "checkpoints", "checkpoint_epoch_1");
        string file = Path.Combine(checkpoint, CheckpointFiles.Optimizer);
        using (var model = Policies.Load(checkpoint))
        using (var single = TorchSharp.torch.optim.AdamW(model.parameters().Where(p => p.requires_grad), 1e-3))
            single.save_state_dict(file);
        var e = await Assert.ThrowsAsync<BadInputException>(() =>
            Trainer.RunAsync(_fixture.Config(epochs: 2, experiment: "one-group"), new Trainer.Options { ResumeCheckpoint = checkpoint }));
        Assert.StartsWith($"{file} does not fit this optimizer's 2 parameter groups", e.Message);
    }

    [Fact]
    public async Task A_diverging_loss_stops_with_the_step_and_a_hint_and_writes_no_weights()
    {
        var config = _fixture.Config(epochs: 3) with { Training = _fixture.Config().Training with { GradClipNorm = 0 } };
        config = config with { Optimizer = config.Optimizer with { Lr = 1e10 }, LrScheduler = config.LrScheduler with { WarmupSteps = 0 } };
        var e = await Assert.ThrowsAsync<VlaException>(() => Trainer.RunAsync(config, new Trainer.Options()));
        Assert.Matches("The training loss became .* at step \\d+ \\(epoch \\d\\); no weights were written\\. Try a lower optimizer\\.lr", e.Message);
    }
}

[Collection(ProcessWide.Name)]
public sealed class LongPromptTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task Prompts_longer_than_prompt_max_len_are_reported_once_up_front()
    {
        var config = _fixture.Config(epochs: 1);
        config = config with { Data = config.Data with { PromptMaxLen = 4 } };
        var lines = new List<string>();
        await Trainer.RunAsync(config, new Trainer.Options { Log = lines.Add });
        var warning = Assert.Single(lines, l => l.StartsWith("warning:", StringComparison.Ordinal));
        Assert.Contains("2 of 2 prompts are longer than data.prompt_max_len = 4 tokens", warning);
    }
}
