using Vla.Config;
using Vla.Runtime;

namespace Vla.Tests.Config;

public class ConfigLoaderTests
{
    [Theory]
    [InlineData("configs/sample.yaml")]
    [InlineData("configs/vla_config.yaml")]
    [InlineData("configs/vla_config_ddp.yaml")]
    [InlineData("configs/paligemma_3b_lora.yaml")]
    public void Committed_configs_load_and_pass_value_validation(string relative)
    {
        var config = ConfigLoader.Load(Path.Combine(TestFiles.RepoRoot, relative));
        Assert.Empty(ConfigValidator.Problems(config));
    }

    [Fact]
    public void Sample_config_reads_every_section()
    {
        var config = ConfigLoader.Load(Path.Combine(TestFiles.RepoRoot, "configs/sample.yaml"));
        Assert.Equal(["../data-samples/train"], config.Data.TrainParquetFiles);
        Assert.Equal(64, config.Data.ImageSize);
        Assert.True(config.Model.VlmConfig.UseAuxCamera);
        Assert.Equal(28, config.Model.ActionHeadConfig.ActionDim);
        Assert.Equal(20, config.LrScheduler.TMax);
        Assert.Equal([0.9, 0.999], config.Optimizer.Betas);
        Assert.Equal(Path.Combine(TestFiles.RepoRoot, "configs"), config.BaseDirectory);
    }

    [Fact]
    public void Missing_keys_take_the_documented_defaults()
    {
        var config = ConfigLoader.Parse("data:\n  batch_size: 4\n");
        Assert.Equal(4, config.Data.BatchSize);
        Assert.Equal(4, config.Data.MaxSeqLen);
        Assert.Equal(56, config.Model.ActionHeadConfig.ActionDim);
        Assert.Equal("min_max", config.Data.NormalizationMode);
    }

    [Fact]
    public void Data_paths_may_be_one_string_or_a_list()
    {
        Assert.Equal(["a/"], ConfigLoader.Parse("data:\n  train_parquet_files: a/\n").Data.TrainParquetFiles);
        Assert.Equal(["a", "b"], ConfigLoader.Parse("data:\n  train_parquet_files: [a, b]\n").Data.TrainParquetFiles);
    }

    [Fact]
    public void An_unknown_key_is_named_with_its_line_and_the_closest_valid_key()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Parse("data:\n  batch_sise: 4\n", "my.yaml"));
        Assert.Equal("my.yaml line 2: unknown key 'data.batch_sise'; did you mean 'data.batch_size'?", e.Message);
    }

    [Fact]
    public void An_unknown_section_lists_the_valid_ones_when_nothing_is_close()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Parse("wandb:\n  project: x\n", "my.yaml"));
        Assert.Contains("unknown key 'wandb'", e.Message);
        Assert.Contains("lr_scheduler", e.Message);
    }

    [Fact]
    public void Every_unknown_key_is_reported_at_once()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Parse("data:\n  batchsize: 4\ntraining:\n  epoch: 3\n"));
        Assert.Contains("data.batch_size", e.Message);
        Assert.Contains("training.epochs", e.Message);
    }

    [Fact]
    public void A_wrongly_typed_value_names_the_line()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Parse("data:\n  batch_size: many\n", "my.yaml"));
        Assert.StartsWith("my.yaml line 2", e.Message);
    }

    [Fact]
    public void Broken_yaml_names_the_line()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Parse("data:\n  batch_size: [1, 2\n", "my.yaml"));
        Assert.StartsWith("my.yaml line", e.Message);
    }

    [Fact]
    public void A_missing_file_is_bad_input()
    {
        var e = Assert.Throws<BadInputException>(() => ConfigLoader.Load("/nonexistent/x.yaml"));
        Assert.Contains("/nonexistent/x.yaml", e.Message);
    }

    [Fact]
    public void Overrides_replace_file_values()
    {
        var config = ConfigLoader.Parse("data:\n  batch_size: 4\n");
        var changed = config with { Data = config.Data with { BatchSize = 9 } };
        Assert.Equal(9, changed.Data.BatchSize);
        Assert.Equal(4, config.Data.BatchSize);
    }
}
