using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Vla.Evaluation;
using Vla.Inference;
using Vla.Runtime;

namespace Vla.Cli.Commands;

/// <summary><c>vla eval --checkpoint DIR --eval-data PATH… --output-dir DIR</c>: metrics.json, predictions.csv, inference_log.txt, report.html.</summary>
internal static class EvalCommand
{
    private static readonly Option<string[]> EvalData = CliOption.Create<string[]>("--eval-data", "Parquet file(s), folder(s) or glob(s), or LeRobot dataset roots; each gets its own section.", required: true, "--eval-data-path", "--eval_data_path");
    private static readonly Option<string> OutputDir = CliOption.Create<string>("--output-dir", "Folder for the results.", required: true);
    private static readonly Option<bool> SavePredictions = CliOption.Create<bool>("--save-predictions", "Also write predictions.csv (one row per predicted value).");
    private static readonly Option<int?> BatchSize = CliOption.Create<int?>("--batch-size", "Windows per batch (default: the checkpoint's).");
    private static readonly Option<long> Seed = CliOption.Create<long>("--seed", "Seed of the sampled noise (default 0).");

    public static Command Create()
    {
        EvalData.AllowMultipleArgumentsPerToken = true;
        var command = new Command("eval", "Evaluate a checkpoint: per-step and per-dimension errors against a mean-chunk baseline, and an HTML report.")
        {
            CommonOptions.Checkpoint, CommonOptions.Tokenizer, EvalData, OutputDir, SavePredictions, BatchSize, CommonOptions.NumInferenceSteps, Seed, CommonOptions.Device, CommonOptions.Dtype, CommonOptions.UseAmp,
            CommonOptions.Episodes,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        using var predictor = VlaPredictor.Load(parse.GetValue(CommonOptions.Checkpoint)!, CommonOptions.InferenceDevice(parse), CommonOptions.InferenceDtype(parse),
            parse.GetValue(CommonOptions.Tokenizer));
        double loadSeconds = watch.Elapsed.TotalSeconds;
        string output = parse.GetValue(OutputDir)!;
        var options = new EvalOptions
        {
            BatchSize = parse.GetValue(BatchSize), NumInferenceSteps = parse.GetValue(CommonOptions.NumInferenceSteps),
            Seed = parse.GetValue(Seed), SavePredictions = parse.GetValue(SavePredictions), Episodes = CommonOptions.EpisodeSelection(parse),
        };
        EvalResult? result = null;
        async Task Evaluate(TextWriter? csv) => result = await Evaluator.RunAsync(predictor, parse.GetValue(EvalData)!, options, csv, ct);
        if (options.SavePredictions)
            await AtomicFile.WriteAsync(Path.Combine(output, "predictions.csv"), async stream =>
            {
                await using var csv = new StreamWriter(stream, leaveOpen: true);
                await Evaluate(csv);
            });
        else await Evaluate(null);
        EvalReportWriter.Write(output, result!, [$"load {loadSeconds:F1} s, total {watch.Elapsed.TotalSeconds:F1} s"]);

        var c = result!.Combined;
        var table = new Table().AddColumn("dataset").AddColumn(new TableColumn("windows").RightAligned())
            .AddColumn(new TableColumn("MSE").RightAligned()).AddColumn(new TableColumn("baseline MSE").RightAligned())
            .AddColumn(new TableColumn("MAE").RightAligned()).AddColumn(new TableColumn("accuracy").RightAligned());
        foreach (var (name, m) in result.Datasets.Append(new KeyValuePair<string, EvalMetrics>("all", c)))
            table.AddRow(Markup.Escape(name), m.Windows.ToString(), m.Overall.Mse.ToString("G4"), m.Baseline.Mse.ToString("G4"), m.Overall.Mae.ToString("G4"), m.Accuracy.ToString("G4"));
        AnsiConsole.Write(table);
        foreach (var line in result.Log.Where(l => l.StartsWith("warning", StringComparison.Ordinal))) Console.Error.WriteLine(line);
        Console.WriteLine($"Wrote {string.Join(", ", new[] { "metrics.json", "inference_log.txt", "report.html" }.Concat(options.SavePredictions ? ["predictions.csv"] : []))} to {output}.");
        return CliErrors.Ok;
    }
}
