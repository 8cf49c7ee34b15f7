using Vla.Cli;

namespace Vla.Tests.Commands;

public class ParserTests
{
    [Theory]
    [InlineData("stats", "--config", "c.yaml", "--output", "o.json", "--train-data-override", "d/")]
    [InlineData("stats", "--config_path", "c.yaml", "--output_path", "o.json", "--train_data_override", "d/")]
    [InlineData("stats", "--config-path", "c.yaml", "--output-path", "o.json", "--train-data-override", "d/")]
    public void Kebab_and_seed_snake_case_spellings_parse_alike(params string[] args)
    {
        var parse = VlaCommandLine.Create().Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal("stats", parse.CommandResult.Command.Name);
    }

    [Fact]
    public void Several_data_paths_follow_one_option()
    {
        var parse = VlaCommandLine.Create().Parse(["inspect", "--data", "a/", "b.parquet"]);
        Assert.Empty(parse.Errors);
    }

    [Theory]
    [InlineData("stats", "--output", "o.json")]
    [InlineData("inspect")]
    [InlineData("stats", "--config", "c.yaml", "--output", "o.json", "--bogus")]
    [InlineData("no-such-command")]
    public async Task Bad_usage_exits_with_2(params string[] args)
    {
        Assert.Equal(2, await VlaCommandLine.InvokeAsync(args));
    }

    [Fact]
    public void Every_documented_verb_of_this_stage_exists()
    {
        var names = VlaCommandLine.Create().Subcommands.Select(c => c.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "make-sample-data", "inspect", "stats", "train", "eval", "predict", "caption", "diagnose" }, names);
    }
}
