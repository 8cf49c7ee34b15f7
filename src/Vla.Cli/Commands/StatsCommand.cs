using System.CommandLine;
using Spectre.Console;
using Vla.Config;
using Vla.Data;

namespace Vla.Cli.Commands;

/// <summary><c>vla stats --config CFG --output FILE [--train-data-override PATH]</c>: normalization statistics of the training data.</summary>
internal static class StatsCommand
{
    private static readonly Option<string> Config = CliOption.Create<string>("--config", "Run configuration (YAML).", required: true, "--config-path", "--config_path");
    private static readonly Option<string> Output = CliOption.Create<string>("--output", "Where to write the stats JSON.", required: true, "--output-path", "--output_path");
    private static readonly Option<string[]> TrainData = CliOption.Create<string[]>("--train-data-override", "Training Parquet file(s), folder(s) or glob(s) instead of the config's.");

    public static Command Create()
    {
        TrainData.AllowMultipleArgumentsPerToken = true;
        var command = new Command("stats", "Compute normalization statistics (min, max, mean, std, q01, q99) of state and action.")
        {
            Config, Output, TrainData, CommonOptions.Episodes,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var config = ConfigLoader.Load(parse.GetValue(Config)!);
        if (parse.GetValue(TrainData) is { Length: > 0 } paths)
            config = config with { Data = config.Data with { TrainParquetFiles = [.. paths] }, BaseDirectory = null };
        ConfigValidator.Validate(config, ConfigRequirements.TrainData);

        var mode = Normalizer.ParseMode(config.Data.NormalizationMode);
        var options = DataOptions.From(config) with { VerifyImages = false, Episodes = CommonOptions.EpisodeSelection(parse) ?? DataOptions.From(config).Episodes }; // stats read no images
        var dataset = await EpisodeDataset.OpenAsync(config.Data.DataPaths(validation: false), options, config.BaseDirectory, ct: ct);
        var stats = NormalizationStats.ForTraining(dataset, mode, out string source);
        string output = parse.GetValue(Output)!;
        stats.Save(output);

        // The chosen mode is checked against the validation split when there is one, else against the training data.
        var check = config.Data.HasValidation
            ? await EpisodeDataset.OpenAsync(config.Data.DataPaths(validation: true), DataOptions.From(config, validation: true) with { VerifyImages = false }, config.BaseDirectory, ct: ct)
            : dataset;
        var warnings = NormalizationWarning.Find(stats, mode, check);
        AnsiConsole.MarkupLine($"{Markup.Escape(dataset.Format)}: [bold]{dataset.Episodes.Count}[/] episodes, [bold]{dataset.StepCount}[/] steps from {dataset.Files.Count} file(s).");
        Console.WriteLine($"Statistics from {source}.");   // file paths: never wrapped, so they can be copied whole
        Render("state", stats.State, warnings);
        Render("action", stats.Action, warnings);
        foreach (var warning in warnings) Console.WriteLine($"warning: {warning}");
        AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(output)}[/].");
        return CliErrors.Ok;
    }

    private static void Render(string name, DimensionStats s, List<NormalizationWarning> warnings)
    {
        var table = new Table().Title($"{name} ({s.Count} vectors)");
        bool quantiles = s.Q01.Length == s.Dim && s.Q99.Length == s.Dim; // statistics recorded by LeRobot v2.1 have none
        table.AddColumn(new TableColumn("dim").RightAligned()).AddColumn(new TableColumn("name").NoWrap());
        foreach (var column in new[] { "min", "max", "mean", "std" }.Concat(quantiles ? ["q01", "q99"] : [])) table.AddColumn(new TableColumn(column).RightAligned());
        table.AddColumn("flags");
        for (int d = 0; d < s.Dim; d++)
        {
            string flags = string.Join(", ", warnings.Where(w => w.Quantity == name && w.Dim == d).Select(w => w.Flag));
            var cells = new[] { d.ToString(), Markup.Escape(DimensionNames.Of(s.Names, d)), F(s.Min[d]), F(s.Max[d]), F(s.Mean[d]), F(s.Std[d]) }
                .Concat(quantiles ? [F(s.Q01[d]), F(s.Q99[d])] : []).Append(Markup.Escape(flags));
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
    }

    private static string F(float v) => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
}
