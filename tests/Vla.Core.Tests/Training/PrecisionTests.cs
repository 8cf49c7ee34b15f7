using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Weights;
using Vla.Training;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Tests.Training;

/// <summary>The backbone in bfloat16 / float16: what is stored in which dtype, where it lives, and exact resume.</summary>
[Collection(ProcessWide.Name)]
public sealed class PrecisionTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private VlaConfig Config(string dtype, int epochs = 1, string experiment = "run")
    {
        var c = _fixture.Config(epochs, experiment);
        return c with { Model = c.Model with { VlmConfig = c.Model.VlmConfig with { Dtype = dtype } } };
    }

    [Fact]
    public async Task A_bfloat16_checkpoint_holds_a_BF16_backbone_a_float32_head_and_float32_master_weights()
    {
        var result = await Trainer.RunAsync(Config("torch.bfloat16"), new Trainer.Options());
        Assert.True(double.IsFinite(result.FinalTrainLoss));
        string best = result.BestCheckpoint!;
        var weights = SafetensorsFile.Open(Path.Combine(best, CheckpointFiles.Model)).Entries;
        Assert.All(weights.Where(e => e.Name.StartsWith("backbone.", StringComparison.Ordinal)), e => Assert.Equal("BF16", e.Dtype));
        Assert.All(weights.Where(e => !e.Name.StartsWith("backbone.", StringComparison.Ordinal)), e => Assert.Equal("F32", e.Dtype));
        var masters = SafetensorsFile.Open(Path.Combine(best, CheckpointFiles.MasterWeights)).Entries;
        Assert.Equal(weights.Where(e => e.Dtype == "BF16").Select(e => e.Name).Order(), masters.Select(e => e.Name).Order());
        Assert.All(masters, e => Assert.Equal("F32", e.Dtype));

        using var loaded = Policies.Load(best);                    // the checkpoint's own dtype by default
        Assert.Equal(ScalarType.BFloat16, loaded.BackboneDtype);
        using var widened = Policies.Load(best, dtype: ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, widened.BackboneDtype);
    }

    [Fact]
    public async Task A_float32_checkpoint_has_no_BF16_tensor_and_no_master_weights()
    {
        var result = await Trainer.RunAsync(Config("float32"), new Trainer.Options());
        var weights = SafetensorsFile.Open(Path.Combine(result.BestCheckpoint!, CheckpointFiles.Model)).Entries;
        Assert.All(weights, e => Assert.Equal("F32", e.Dtype));
        Assert.False(File.Exists(Path.Combine(result.BestCheckpoint!, CheckpointFiles.MasterWeights)));
    }

    [Fact]
    public async Task Resuming_a_bfloat16_run_after_epoch_2_of_4_reproduces_the_uninterrupted_run()
    {
        var whole = await Trainer.RunAsync(Config("bfloat16", epochs: 4, experiment: "whole"), new Trainer.Options());
        var half = await Trainer.RunAsync(Config("bfloat16", epochs: 2, experiment: "half"), new Trainer.Options());
        string checkpoint = Path.Combine(half.ExperimentDir, "checkpoints", "checkpoint_epoch_2");
        var resumed = await Trainer.RunAsync(Config("bfloat16", epochs: 4, experiment: "half"), new Trainer.Options { ResumeCheckpoint = checkpoint });
        Assert.Equal(whole.EpochTrainLosses[4], resumed.EpochTrainLosses[4]);   // bit for bit: master weights and moments restored
        Assert.Equal(whole.Validation, resumed.Validation);
    }

    [Fact]
    public async Task A_float16_run_scales_its_loss_and_saves_the_scale()
    {
        var result = await Trainer.RunAsync(Config("float16"), new Trainer.Options());
        Assert.True(double.IsFinite(result.FinalTrainLoss));
        var masters = SafetensorsFile.Open(Path.Combine(result.BestCheckpoint!, CheckpointFiles.MasterWeights));
        Assert.True(double.Parse(masters.Metadata["loss_scale"], System.Globalization.CultureInfo.InvariantCulture) >= 1);
        Assert.All(SafetensorsFile.Open(Path.Combine(result.BestCheckpoint!, CheckpointFiles.Model)).Entries.Where(e => e.Name.StartsWith("backbone.", StringComparison.Ordinal)),
            e => Assert.Equal("F16", e.Dtype));
    }

    [Fact]
    public async Task Resuming_with_another_dtype_is_refused_naming_the_key()
    {
        var result = await Trainer.RunAsync(Config("bfloat16"), new Trainer.Options());
        var e = await Assert.ThrowsAsync<Vla.Runtime.BadInputException>(() =>
            Trainer.RunAsync(Config("float32", epochs: 2), new Trainer.Options { ResumeCheckpoint = result.BestCheckpoint }));
        Assert.Contains("was trained with model.vlm_config.dtype = bfloat16, but the config says float32", e.Message);
    }

    [Fact]
    public async Task Every_tensor_of_a_bfloat16_training_step_is_on_the_configured_device_in_its_dtype()
    {
        var config = Config("bfloat16");
        var device = CPU;
        var model = Policies.Build(config, 3, device);
        using var _ = model;
        using var step = new TrainStep(model, config);
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        var loader = new BatchLoader(dataset, new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax), BatchLayout.Of(model.Spec), new LoaderOptions
        {
            BatchSize = 4, Device = device, Transform = model.Transform,
        });
        using var batch = loader.Epoch(1).First();
        using var noise = new StepNoise(1);
        step.Run(batch, noise, 1e-3);

        // The record: every parameter, every batch tensor and every optimizer tensor, with its device and dtype.
        var record = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(batch.Tensors).Concat(step.OptimizerTensors()).Select(t => (t.Item1, Device: t.Item2.device.ToString(), t.Item2.dtype)).ToList();
        Assert.All(record, r => Assert.Equal(device.ToString(), r.Device));
        Assert.All(record.Where(r => r.Item1.StartsWith("backbone.", StringComparison.Ordinal)), r => Assert.Equal(ScalarType.BFloat16, r.dtype));
        // PaliGemma's own multi_modal_projector is part of the backbone; the VLA's context projector, state encoder and head are float32.
        Assert.All(record.Where(r => r.Item1.StartsWith("action_head.", StringComparison.Ordinal) || r.Item1.StartsWith("state_encoder.", StringComparison.Ordinal)
            || r.Item1.StartsWith("context_projector.", StringComparison.Ordinal)), r => Assert.Equal(ScalarType.Float32, r.dtype));
        Assert.Contains(record, r => r.Item1.StartsWith("context_projector.", StringComparison.Ordinal));
        Assert.All(record.Where(r => r.Item1.StartsWith("master:", StringComparison.Ordinal) || r.Item1.StartsWith("exp_avg", StringComparison.Ordinal)),
            r => Assert.Equal(ScalarType.Float32, r.dtype));
        Assert.Equal(model.parameters().Count(p => p.dtype == ScalarType.BFloat16), step.Masters.Count);
        Assert.Equal(2 * step.Trained.Count, step.OptimizerTensors().Count(t => t.Name.StartsWith("exp_avg", StringComparison.Ordinal)));

        // A chunk: the backbone's bf16 output is widened before the float32 head, and the result is float32 on the device.
        model.eval();
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var chunk = model.SampleActions(batch.Input, 3, generator: generator);
        Assert.Equal((device.ToString(), ScalarType.Float32), (chunk.device.ToString(), chunk.dtype));
    }

    [Fact]
    public void The_device_self_check_finds_no_difference_between_two_runs_on_the_same_device()
    {
        var result = DeviceSelfCheck.Run(CPU, CPU, ScalarType.BFloat16);
        Assert.Equal((0.0, 0.0, 0.0), (result.LossDifference, result.WeightDifference, result.ChunkDifference));
        Assert.Contains("bfloat16 training step on cpu vs cpu", result.ToString());
    }
}
