using Vla.Checkpoints;
using Vla.Config;
using Vla.Model.PaliGemmaFlow;
using Vla.Runtime;
using Vla.Tests.Training;
using Vla.Training;

namespace Vla.Tests.Checkpoints;

[Collection(ProcessWide.Name)]
public sealed class CheckpointTests : IDisposable
{
    private readonly TrainingFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task A_checkpoint_from_another_model_shape_is_refused_naming_the_key()
    {
        var result = await Trainer.RunAsync(_fixture.Config(epochs: 1), new Trainer.Options());
        var other = _fixture.Config(epochs: 2) with { Model = _fixture.Config().Model with { ActionHeadConfig = _fixture.Config().Model.ActionHeadConfig with { HiddenDim = 64 } } };
        var e = await Assert.ThrowsAsync<BadInputException>(() => Trainer.RunAsync(other, new Trainer.Options { ResumeCheckpoint = result.BestCheckpoint }));
        Assert.Contains("was trained with model.action_head_config.hidden_dim = 32, but the config says 64", e.Message);
    }

    [Fact]
    public void A_checkpoint_folder_missing_a_file_is_named()
    {
        string dir = _fixture.Files.PathOf("broken-checkpoint");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, CheckpointFiles.Model), "");
        var e = Assert.Throws<BadInputException>(() => ModelFactory.FromCheckpoint(dir));
        Assert.Contains($"{Path.Combine(dir, CheckpointFiles.TrainerState)} is missing", e.Message);
    }

    [Fact]
    public void A_model_config_equals_another_key_by_key_with_lora_targets_as_a_set()
    {
        var config = _fixture.Config();
        var a = VlaModelConfig.From(config with { Model = config.Model with { Lora = new LoraConfig { Rank = 4, TargetModules = ["q_proj", "v_proj"] } } });
        var b = VlaModelConfig.From(config with { Model = config.Model with { Lora = new LoraConfig { Rank = 4, TargetModules = ["v_proj", "q_proj"] } } });
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        var wider = a with { MlpHiddenDims = [32, 16] };
        Assert.NotEqual(a, wider);
        Assert.Equal([("model.action_head_config.mlp_hidden_dims", (object?)"[32]", (object?)"[32, 16]")], ConfigKeys.Differences(a, wider));
    }
}
