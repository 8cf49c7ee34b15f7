using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Vla.Data;
using Vla.Inference;
using Vla.Runtime;

namespace Vla.Cli.Commands;

/// <summary>
/// <c>vla replay --checkpoint DIR --data PATH --delay D --execute S [--rtc]</c>: plays recorded episodes as a robot runs a
/// chunking policy and reports the error against the recorded actions and the jumps at chunk switches, naive and RTC.
/// </summary>
internal static class ReplayCommand
{
    private static readonly Option<string> Data = CliOption.Create<string>("--data", "Parquet file(s), folder or glob, or a LeRobot dataset root.", required: true);
    private static readonly Option<int> Delay = CliOption.Create<int>("--delay", "Steps between an observation and its chunk's arrival (the inference delay).", required: true);
    private static readonly Option<int> Execute = CliOption.Create<int>("--execute", "Steps between chunk requests.", required: true);
    private static readonly Option<bool> Rtc = CliOption.Create<bool>("--rtc", "Also replay with real-time chunking, from the same noise, and compare.");
    private static readonly Option<int?> ExecutionHorizon = CliOption.Create<int?>("--execution-horizon", "RTC: where the guided prefix ends (default: every remaining action of the previous chunk).");
    private static readonly Option<long> Seed = CliOption.Create<long>("--seed", "Seed of the sampled noise (default 0).");
    private static readonly Option<string?> Output = CliOption.Create<string?>("--output", "Also write the figures and the executed actions as JSON.");

    public static Command Create()
    {
        var command = new Command("replay", "Play recorded episodes as a robot would (a chunk every --execute steps, arriving --delay steps late): error and jumps at chunk switches, naive vs real-time chunking.")
        {
            CommonOptions.Checkpoint, CommonOptions.Tokenizer, Data, CommonOptions.Episodes, Delay, Execute, Rtc, ExecutionHorizon, CommonOptions.MaxGuidanceWeight, CommonOptions.PrefixSchedule, CommonOptions.ExactJacobian, CommonOptions.NumInferenceSteps,
            Seed, Output, CommonOptions.Device, CommonOptions.Dtype,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        using var predictor = VlaPredictor.Load(parse.GetValue(CommonOptions.Checkpoint)!, CommonOptions.InferenceDevice(parse), CommonOptions.InferenceDtype(parse),
            parse.GetValue(CommonOptions.Tokenizer));
        predictor.Rtc = CommonOptions.RtcSettings(parse);
        var options = DataOptions.From(predictor.Data, predictor.Spec.Cameras == 2) with
        {
            PerActionDim = null, VerifyImages = false, Episodes = CommonOptions.EpisodeSelection(parse), Format = "auto", ImageFit = predictor.Spec.ImageFit,
        };
        var dataset = await EpisodeDataset.OpenAsync([parse.GetValue(Data)!], options, ct: ct);
        var replay = new ReplayOptions(parse.GetValue(Delay), parse.GetValue(Execute), parse.GetValue(Rtc), parse.GetValue(ExecutionHorizon),
            parse.GetValue(CommonOptions.NumInferenceSteps), parse.GetValue(Seed));
        var result = await Task.Run(() => ChunkReplay.Run(predictor, dataset, replay, ct), ct);

        Console.WriteLine($"{result.Episodes.Count} episode(s), {result.Steps} steps, {result.Boundaries} chunk switches " +
            $"(a chunk every {replay.Execute} steps, arriving {replay.Delay} late); normalized units.");
        var table = new Table().AddColumn("mode").AddColumn(new TableColumn("MSE").RightAligned())
            .AddColumn(new TableColumn("mean jump").RightAligned()).AddColumn(new TableColumn("max jump").RightAligned());
        foreach (var mode in result.Modes)
            table.AddRow(mode.Mode, mode.Mse.ToString("G4"), mode.MeanJump.ToString("G4"), mode.MaxJump.ToString("G4"));
        table.AddRow("recorded", "", result.RecordedJump.ToString("G4"), "");
        AnsiConsole.Write(table);
        if (result.Modes.Count == 2 && result.Modes[0] is var naive && result.Modes[1] is var rtc && naive.MeanJump > 0 && naive.Mse > 0)
            Console.WriteLine($"RTC / naive: mean jump {rtc.MeanJump / naive.MeanJump:F2}×, MSE {rtc.Mse / naive.Mse:F3}×.");
        if (parse.GetValue(Output) is string output)
        {
            AtomicFile.WriteAllText(output, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            Console.WriteLine($"Wrote {output}.");
        }
        return CliErrors.Ok;
    }
}
