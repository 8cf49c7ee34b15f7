using System.CommandLine;
using Spectre.Console;
using Vla.Data;

namespace Vla.Cli.Commands;

/// <summary><c>vla inspect --data PATH</c>: schema, episodes, prompts, value ranges and bad rows of a dataset.</summary>
internal static class InspectCommand
{
    private static readonly Option<string[]> Data = CliOption.Create<string[]>("--data", "Parquet file(s), folder(s) or glob(s), or a LeRobot dataset's root.", required: true, "--data-path", "--data_path");
    private static readonly Option<int> MaxProblems = CliOption.Create<int>("--max-problems", "Bad rows to list (default 20).");

    public static Command Create()
    {
        Data.AllowMultipleArgumentsPerToken = true;
        MaxProblems.DefaultValueFactory = _ => 20;
        var command = new Command("inspect", "Show a dataset's schema, episodes, prompts, value ranges and bad rows (exit 2 when any row is bad).")
        {
            Data, MaxProblems, CommonOptions.Episodes, CommonOptions.DataFormat, CommonOptions.ImageKeys, CommonOptions.StateKey, CommonOptions.ActionKey,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        // Every frame decoded: a cut one is named.
        var options = CommonOptions.DataKeys(parse, new DataOptions { CollectProblems = true, VerifyImages = true, DecodeImages = true });
        var dataset = await EpisodeDataset.OpenAsync(parse.GetValue(Data)!, options, ct: ct);
        var report = DatasetReport.Create(dataset);

        AnsiConsole.MarkupLine($"{Markup.Escape(dataset.Format)}: [bold]{dataset.Files.Count}[/] file(s), [bold]{dataset.StepCount}[/] steps, [bold]{dataset.Episodes.Count}[/] episodes" +
            (dataset.Episodes.Count > 0 && dataset.Format != "seed schema" ? $" ({Markup.Escape(EpisodeIds(dataset))})" : ""));
        // Paths and problems are printed plainly: wrapped at the console width they could not be copied or grepped.
        foreach (var (file, columns) in dataset.Columns)
            Console.WriteLine($"  {file}: {string.Join(", ", columns)}");
        if (report.Lengths is { } lengths)
            AnsiConsole.MarkupLine($"Episode length: min {lengths.Min}, median {lengths.Median}, max {lengths.Max}");
        foreach (var (camera, size) in report.ImageSizes)
            AnsiConsole.MarkupLine($"{camera}: {size}");

        if (report.Prompts.Count > 0)
        {
            var prompts = new Table().Title("prompts").AddColumn("prompt").AddColumn(new TableColumn("episodes").RightAligned());
            foreach (var (prompt, count) in report.Prompts.Take(15)) prompts.AddRow(Markup.Escape(prompt), count.ToString());
            if (report.Prompts.Count > 15) prompts.AddRow($"… {report.Prompts.Count - 15} more", "");
            AnsiConsole.Write(prompts);
        }
        foreach (var (name, ranges) in new[] { ("state", report.State), ("action", report.Action) })
        {
            if (ranges.Count == 0) continue;
            var table = new Table().Title($"{name} ranges").AddColumn("dim").AddColumn(new TableColumn("name").NoWrap());
            foreach (var c in new[] { "min", "max", "mean" }) table.AddColumn(new TableColumn(c).RightAligned());
            foreach (var r in ranges) table.AddRow(r.Dim.ToString(), Markup.Escape(r.Name), r.Min.ToString("G5"), r.Max.ToString("G5"), r.Mean.ToString("G5"));
            AnsiConsole.Write(table);
        }

        if (dataset.Problems.Count == 0)
        {
            AnsiConsole.MarkupLine("[green]No bad rows.[/]");
            return CliErrors.Ok;
        }
        // A partial download: every missing file is listed (however many), and the episodes that are there are named.
        int limit = Math.Max(parse.GetValue(MaxProblems), dataset.MissingEpisodes.Count * (dataset.Frames.Cameras.Count + 1));
        if (dataset.MissingEpisodes.Count > 0)
            AnsiConsole.MarkupLine($"[red]{dataset.MissingEpisodes.Count} episode(s) listed in meta/ have missing files[/]" +
                (dataset.Episodes.Count > 0 ? $"; the {dataset.Episodes.Count} that are there: [bold]--episodes {Markup.Escape(Selection(dataset))}[/]" : ""));
        AnsiConsole.MarkupLine($"[red]{dataset.Problems.Count} problem(s):[/]");
        foreach (var problem in dataset.Problems.Take(limit)) Console.WriteLine($"  {problem}");
        if (dataset.Problems.Count > limit) AnsiConsole.MarkupLine($"  … and {dataset.Problems.Count - limit} more");
        return CliErrors.BadInput;
    }

    /// <summary>The episode numbers as ranges ("episodes 41-43, 50").</summary>
    private static string EpisodeIds(EpisodeDataset dataset) => "episodes " + string.Join(", ", Runs(dataset).Select(r => r.First == r.Last ? $"{r.First}" : $"{r.First}-{r.Last}"));

    /// <summary>The episodes as an <c>--episodes</c> value ("41:44,50").</summary>
    private static string Selection(EpisodeDataset dataset) => string.Join(",", Runs(dataset).Select(r => r.First == r.Last ? $"{r.First}" : $"{r.First}:{r.Last + 1}"));

    private static List<(int First, int Last)> Runs(EpisodeDataset dataset)
    {
        var ids = dataset.Episodes.Select(e => e.Id).ToList();
        var runs = new List<(int, int)>();
        for (int i = 0; i < ids.Count;)
        {
            int j = i;
            while (j + 1 < ids.Count && ids[j + 1] == ids[j] + 1) j++;
            runs.Add((ids[i], ids[j]));
            i = j + 1;
        }
        return runs;
    }
}
