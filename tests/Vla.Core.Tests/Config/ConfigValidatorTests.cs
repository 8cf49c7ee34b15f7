using Vla.Config;
using Vla.Runtime;

namespace Vla.Tests.Config;

public class ConfigValidatorTests
{
    private static VlaConfig Valid => new();

    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(ConfigValidator.Problems(Valid));
    }

    [Fact]
    public void Action_dim_must_equal_horizon_times_per_action_dim()
    {
        var config = Valid with { Model = Valid.Model with { ActionHeadConfig = Valid.Model.ActionHeadConfig with { ActionDim = 50 } } };
        var problem = Assert.Single(ConfigValidator.Problems(config));
        Assert.Equal("model.action_head_config.action_dim is 50 but horizon × per_action_dim = 8 × 7 = 56.", problem);
    }

    [Fact]
    public void Out_of_range_values_are_named_each_in_one_sentence()
    {
        var config = Valid with
        {
            Data = Valid.Data with { BatchSize = 0, NormalizationMode = "minmax" },
            Optimizer = Valid.Optimizer with { Betas = [0.9] },
        };
        var problems = ConfigValidator.Problems(config);
        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("data.batch_size must be positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("data.normalization_mode must be one of", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("optimizer.betas", StringComparison.Ordinal));
    }

    [Fact]
    public void Head_width_must_divide_into_heads()
    {
        var config = Valid with { Model = Valid.Model with { ActionHeadConfig = Valid.Model.ActionHeadConfig with { HiddenDim = 100, NumHeads = 8 } } };
        Assert.Contains(ConfigValidator.Problems(config), p => p.Contains("divisible by num_heads"));
    }

    [Fact]
    public void A_data_path_that_does_not_exist_is_named()
    {
        var config = Valid with { Data = Valid.Data with { TrainParquetFiles = ["/nonexistent/train/"] } };
        var e = Assert.Throws<BadInputException>(() => ConfigValidator.Validate(config, ConfigRequirements.TrainData));
        Assert.Equal("data.train_parquet_files: '/nonexistent/train/' matches no Parquet file.", e.Message);
    }

    [Fact]
    public void Relative_paths_resolve_next_to_the_config_file_too()
    {
        var config = ConfigLoader.Load(Path.Combine(TestFiles.RepoRoot, "configs/sample.yaml"));
        var moved = config with { Data = config.Data with { TrainParquetFiles = ["../data-samples/train"] } };
        Assert.Empty(ConfigValidator.Problems(moved, ConfigRequirements.TrainData));
    }

    [Fact]
    public void Seed_dtype_spelling_is_accepted()
    {
        Assert.Equal("bfloat16", ConfigValidator.NormalizeDtype("torch.bfloat16"));
        var config = Valid with { Model = Valid.Model with { VlmConfig = Valid.Model.VlmConfig with { Dtype = "torch.bfloat16" } } };
        Assert.Empty(ConfigValidator.Problems(config));
    }
}
