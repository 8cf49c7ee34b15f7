using System.Text.Json;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Model;
using Vla.Model.PaliGemmaFlow;
using Vla.Model.Weights;
using Vla.Runtime;
using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Tests.Training;

/// <summary>LoRA on the tiny backbone: what trains, what a checkpoint holds, merged export, exact resume, bad input.</summary>
[Collection(ProcessWide.Name)]
public sealed class LoraTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private VlaConfig Config(int epochs, string experiment, int rank = 4, List<string>? targets = null)
    {
        var config = _fixture.Config(epochs, experiment);
        var lora = new LoraConfig { Rank = rank, Alpha = 2 * rank };
        if (targets is not null) lora = lora with { TargetModules = targets };
        return config with { Model = config.Model with { Lora = lora } };
    }

    /// <summary>A fixed observation for the tiny fixture model (2 cameras of 32 px, state_dim 3).</summary>
    private static PolicyInput Input(VlaModel model)
    {
        using var generator = new Generator(3);
        return TrainingFixture.Input(model.Tokenizer, generator);
    }

    private static Tensor Chunk(VlaModel model, PolicyInput input)
    {
        using var generator = new Generator(9);
        var noise = randn([2, 3, 2], generator: generator);
        return model.SampleActions(input, 4, noise);
    }

    [Fact]
    public async Task A_lora_run_trains_only_adapters_head_and_projectors_beats_the_baseline_and_refers_to_its_base()
    {
        var config = Config(epochs: 30, "lora");
        config = config with { Optimizer = config.Optimizer with { Lr = 3e-3 }, LrScheduler = config.LrScheduler with { TMax = 1000 } };
        var result = await Trainer.RunAsync(config, new Trainer.Options());
        Assert.True(result.Validation!.ActionMse < result.Validation.BaselineMse, $"action MSE {result.Validation.ActionMse} vs baseline {result.Validation.BaselineMse}");

        string checkpoint = result.BestCheckpoint!;
        var model = SafetensorsFile.Open(Path.Combine(checkpoint, CheckpointFiles.Model));
        Assert.DoesNotContain(model.Entries, e => e.Name.StartsWith("backbone.", StringComparison.Ordinal)); // the frozen base is not copied
        Assert.Contains(model.Entries, e => e.Name.StartsWith("action_head.", StringComparison.Ordinal));

        var adapters = SafetensorsFile.Open(Path.Combine(checkpoint, LoraAdapters.WeightsFile));
        Assert.Equal(2 * 7 * 2, adapters.Entries.Count);                                                 // 2 layers × 7 projections × (A, B)
        Assert.Contains(adapters.Entries, e => e.Name == "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight" && e.Shape.SequenceEqual([4L, 64]));
        Assert.Contains(adapters.Entries, e => e.Name == "base_model.model.language_model.model.layers.1.mlp.down_proj.lora_B.weight" && e.Shape.SequenceEqual([64L, 4]));
        Assert.All(adapters.Entries, e => Assert.Equal("F32", e.Dtype));

        using var peft = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, LoraAdapters.ConfigFile)));
        Assert.Equal("LORA", peft.RootElement.GetProperty("peft_type").GetString());
        Assert.Equal(4, peft.RootElement.GetProperty("r").GetInt32());
        Assert.Equal(8, peft.RootElement.GetProperty("lora_alpha").GetDouble());
        Assert.Equal(0, peft.RootElement.GetProperty("lora_dropout").GetDouble());
        var targets = new System.Text.RegularExpressions.Regex($"^(?:{peft.RootElement.GetProperty("target_modules").GetString()})$");
        Assert.Matches(targets, "language_model.model.layers.1.mlp.gate_proj");
        Assert.DoesNotMatch(targets, "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj");

        using var loaded = Policies.Load(checkpoint);
        Assert.Contains(loaded.named_parameters(), p => LoraAdapters.IsAdapter(p.name));
    }

    [Fact]
    public void Training_steps_move_the_adapters_and_the_head_and_leave_every_base_weight_as_it_was()
    {
        var config = Config(1, "steps");
        var model = Policies.Build(config, 2);
        var tokenizer = model.Tokenizer;
        using var _ = model;
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var generator = new Generator(5);
        var input = TrainingFixture.Input(tokenizer, generator);
        using var batch = new Vla.Data.Loading.VlaBatch
        {
            Input = input,
            Actions = randn([2, 3, 2], generator: generator), ActionMask = ones(2, 3, ScalarType.Bool),
            Prompts = ["a", "b"], Windows = [new Vla.Data.Loading.Window(0, 0), new Vla.Data.Loading.Window(0, 1)],
        };
        using var step = new TrainStep(model, config);
        Assert.All(step.Trained, p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var noise = new StepNoise(5);
        for (int i = 0; i < 2; i++) step.Run(batch, noise, 1e-2);

        bool Moved(string name) => !model.named_parameters().First(p => p.name == name).parameter.eq(before[name]).all().item<bool>();
        foreach (var name in before.Keys.Where(n => n.StartsWith("backbone.", StringComparison.Ordinal) && !LoraAdapters.IsAdapter(n)))
            Assert.False(Moved(name), $"{name} moved");
        Assert.True(Moved("backbone.language_model.layers.1.mlp.down_proj.lora_B.weight"));
        Assert.Contains(before.Keys.Where(n => n.StartsWith("action_head.", StringComparison.Ordinal)), Moved);
    }

    [Fact]
    public async Task A_merged_export_samples_the_chunk_of_base_plus_adapters_and_an_unmerged_one_the_same()
    {
        var result = await Trainer.RunAsync(Config(epochs: 2, "export"), new Trainer.Options());
        var loaded = Policies.Load(result.BestCheckpoint!);
        var input = Input(loaded);
        var reference = Chunk(loaded, input);

        string merged = _fixture.Files.PathOf("merged"), kept = _fixture.Files.PathOf("kept");
        Checkpoint.Export(ModelFactory.FromCheckpoint(result.BestCheckpoint!), merged, mergeLora: true);
        Checkpoint.Export(ModelFactory.FromCheckpoint(result.BestCheckpoint!), kept, mergeLora: false);
        Assert.False(File.Exists(Path.Combine(merged, LoraAdapters.WeightsFile)));
        Assert.True(File.Exists(Path.Combine(merged, CheckpointFiles.ExportedBase, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(kept, LoraAdapters.WeightsFile)));

        var mergedCheckpoint = ModelFactory.FromCheckpoint(merged);
        var mergedModel = (VlaModel)mergedCheckpoint.Policy;
        Assert.False(mergedCheckpoint.Config.Model.Lora.Enabled);
        Assert.DoesNotContain(mergedModel.named_parameters(), p => LoraAdapters.IsAdapter(p.name));
        double mergedDiff = (Chunk(mergedModel, input) - reference).abs().max().item<float>();
        Assert.True(mergedDiff <= 1e-5, $"merged export differs by {mergedDiff:G3}");
        Assert.True((lora_B_norm(loaded) > 0), "the adapters trained (B is no longer zero)");

        double keptDiff = (Chunk(Policies.Load(kept), input) - reference).abs().max().item<float>();
        Assert.Equal(0, keptDiff);

        // An export is self-contained: it loads with the original base gone.
        Directory.Move(_fixture.ModelDir, _fixture.ModelDir + "-gone");
        Assert.Equal(0, (Chunk(Policies.Load(merged), input) - Chunk(mergedModel, input)).abs().max().item<float>());
        var e = Assert.Throws<BadInputException>(() => Policies.Load(result.BestCheckpoint!));
        Assert.Contains(_fixture.ModelDir, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    private static double lora_B_norm(VlaModel loaded) =>
        loaded.named_parameters().Where(p => p.name.Contains(".lora_B.")).Sum(p => p.parameter.norm().item<float>());

    [Fact]
    public async Task Resuming_a_lora_run_reproduces_the_uninterrupted_run()
    {
        var whole = await Trainer.RunAsync(Config(epochs: 4, "whole"), new Trainer.Options());
        var half = await Trainer.RunAsync(Config(epochs: 2, "half"), new Trainer.Options());
        string checkpoint = Path.Combine(half.ExperimentDir, "checkpoints", "checkpoint_epoch_2");
        var resumed = await Trainer.RunAsync(Config(epochs: 4, "half"), new Trainer.Options { ResumeCheckpoint = checkpoint });
        Assert.Equal(whole.EpochTrainLosses[4], resumed.EpochTrainLosses[4], 1e-6);
        Assert.Equal(whole.Validation!.Loss, resumed.Validation!.Loss, 1e-6);
    }

    [Fact]
    public async Task A_changed_base_model_is_refused_naming_it()
    {
        var result = await Trainer.RunAsync(Config(epochs: 1, "changed"), new Trainer.Options());
        string config = Path.Combine(_fixture.ModelDir, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"rms_norm_eps\"", "\"rms_norm_eps\" ")); // any edit changes the hash
        var e = Assert.Throws<BadInputException>(() => Policies.Load(result.BestCheckpoint!));
        Assert.Contains(_fixture.ModelDir, e.Message);
        Assert.Contains("has changed", e.Message);
    }

    [Fact]
    public async Task Adapters_that_do_not_fit_the_base_are_refused_naming_the_tensor()
    {
        var result = await Trainer.RunAsync(Config(epochs: 1, "misfit"), new Trainer.Options());
        string checkpoint = result.BestCheckpoint!;
        string file = Path.Combine(checkpoint, LoraAdapters.WeightsFile);
        var adapters = SafetensorsFile.Open(file);
        var tensors = adapters.Entries.Select(e => (e.Name, e.Name.EndsWith("q_proj.lora_A.weight") ? zeros(4, 65) : adapters.Read(e.Name))).ToList();
        SafetensorsFile.Write(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var e = Assert.Throws<BadInputException>(() => Policies.Load(checkpoint));
        Assert.Contains("q_proj.lora_A.weight", e.Message);
        Assert.Contains("[4, 65]", e.Message);
    }

    [Fact]
    public void A_target_that_names_no_module_and_a_rank_above_the_width_are_refused_naming_them()
    {
        var typo = Assert.Throws<BadInputException>(() => ModelFactory.FromConfig(Config(1, "typo", targets: ["qproj"]), seed: 1));
        Assert.Contains("model.lora.target_modules: 'qproj'", typo.Message);
        Assert.Contains("Did you mean 'q_proj'", typo.Message);

        var wide = Assert.Throws<BadInputException>(() => ModelFactory.FromConfig(Config(1, "wide", rank: 65), seed: 1));
        Assert.Contains("model.lora.rank is 65", wide.Message);
        Assert.Contains("language_model.layers.0.self_attn.q_proj", wide.Message);
    }

    [Fact]
    public void Vision_targets_put_adapters_on_siglip_only_and_everything_else_stays_frozen()
    {
        var model = Policies.Build(Config(1, "vision", targets: ["vision_tower.fc1", "o_proj"]), 1);
        using var _m = model;
        var trained = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.All(trained.Where(n => n.StartsWith("backbone.", StringComparison.Ordinal)), n => Assert.True(LoraAdapters.IsAdapter(n), n));
        Assert.Equal(2 * 2 * 2, trained.Count(LoraAdapters.IsAdapter));                     // (fc1 in 2 SigLIP layers + o_proj in 2 Gemma layers) × (A, B)
        Assert.Contains("backbone.vision_tower.layers.1.mlp.fc1.lora_A.weight", trained);
        Assert.Contains("backbone.language_model.layers.0.self_attn.o_proj.lora_B.weight", trained);
        Assert.Contains(trained, n => n.StartsWith("action_head.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_frozen_vision_tower_is_referenced_not_copied_and_the_trained_decoder_is_saved()
    {
        var config = _fixture.Config(1, "frozen");
        config = config with { Model = config.Model with { VlmConfig = config.Model.VlmConfig with { FreezeVisionTower = true } } };
        var result = await Trainer.RunAsync(config, new Trainer.Options());
        string checkpoint = result.BestCheckpoint!;
        Assert.True(File.Exists(Path.Combine(checkpoint, CheckpointFiles.BaseModel)));
        var names = SafetensorsFile.Open(Path.Combine(checkpoint, CheckpointFiles.Model)).Entries.Select(e => e.Name).ToList();
        Assert.DoesNotContain(names, n => n.StartsWith("backbone.vision_tower.", StringComparison.Ordinal));
        Assert.Contains("backbone.language_model.layers.0.mlp.up_proj.weight", names);

        using var loaded = Policies.Load(checkpoint);
        using var baseModel = ModelWeights.LoadBackbone(_fixture.ModelDir);
        var trained = loaded.Backbone.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var saved = SafetensorsFile.Open(Path.Combine(checkpoint, CheckpointFiles.Model));
        foreach (var (name, p) in baseModel.named_parameters())
        {
            var expected = name.StartsWith("vision_tower.", StringComparison.Ordinal) ? p : saved.Read("backbone." + name);
            Assert.True(trained[name].eq(expected).all().item<bool>(), name);
        }
        Assert.False(baseModel.named_parameters().Where(p => p.name.StartsWith("language_model.layers.", StringComparison.Ordinal))
            .All(p => trained[p.name].eq(p.parameter).all().item<bool>()), "the decoder trained");
    }
}
