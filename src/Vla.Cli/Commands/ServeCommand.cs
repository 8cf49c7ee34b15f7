using System.CommandLine;
using System.Runtime.InteropServices;
using Vla.Inference;
using Vla.Runtime;
using Vla.Server;

namespace Vla.Cli.Commands;

/// <summary>
/// <c>vla serve --checkpoint DIR [--host H --port P --api-key K …]</c>: the policy on openpi's WebSocket protocol until
/// SIGINT/SIGTERM, which stop accepting, answer the requests in flight and exit 0.
/// </summary>
internal static class ServeCommand
{
    private static readonly Option<string> Host = new("--host") { Description = "Address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface).", DefaultValueFactory = _ => "127.0.0.1" };
    private static readonly Option<int> Port = new("--port") { Description = "TCP port (default 8000, openpi's).", DefaultValueFactory = _ => 8000 };
    private static readonly Option<string?> ApiKey = CliOption.Create<string?>("--api-key", "Require 'Authorization: Api-Key KEY' on every connection (default: the VLA_API_KEY environment variable, if set).");
    private static readonly Option<int> MaxBatch = new("--max-batch") { Description = "Most requests predicted in one model call (default 8).", DefaultValueFactory = _ => 8 };
    private static readonly Option<double> BatchWindow = new("--batch-window-ms") { Description = "How long a request waits for others to batch with (default 5; 0 turns batching off).", DefaultValueFactory = _ => 5 };
    private static readonly Option<double> MaxMessage = new("--max-message-mb") { Description = "Largest message accepted, in MiB (default 64).", DefaultValueFactory = _ => 64 };
    private static readonly Option<string?> ObsMap = CliOption.Create<string?>("--obs-map", "YAML map from observation key to image_1, image_2, state or prompt, for layouts other than openpi's and ours.");

    public static Command Create()
    {
        var command = new Command("serve", "Serve a checkpoint to robots on openpi's WebSocket + msgpack protocol (GET /healthz; micro-batching; real-time chunking).")
        {
            CommonOptions.Checkpoint, CommonOptions.Tokenizer, Host, Port, ApiKey, CommonOptions.Device, CommonOptions.Dtype, CommonOptions.NumInferenceSteps, MaxBatch, BatchWindow, MaxMessage, ObsMap,
            CommonOptions.MaxGuidanceWeight, CommonOptions.PrefixSchedule, CommonOptions.ExactJacobian,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() => RunAsync(parse), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        string? key = parse.GetValue(ApiKey) ?? Environment.GetEnvironmentVariable("VLA_API_KEY");
        var options = new ServerOptions(parse.GetValue(Host)!, parse.GetValue(Port), string.IsNullOrEmpty(key) ? null : key,
            parse.GetValue(CommonOptions.NumInferenceSteps), parse.GetValue(MaxBatch), parse.GetValue(BatchWindow), parse.GetValue(MaxMessage),
            parse.GetValue(ObsMap) is { } map ? ObservationLayout.FromYaml(map) : null, Wording: CliFlags.Translate);
        if (options.Port is < 0 or > 65535) throw new BadInputException($"--port is {options.Port}; use 0 to 65535.");

        using var predictor = VlaPredictor.Load(parse.GetValue(CommonOptions.Checkpoint)!, CommonOptions.InferenceDevice(parse), CommonOptions.InferenceDtype(parse),
            parse.GetValue(CommonOptions.Tokenizer));
        predictor.Rtc = CommonOptions.RtcSettings(parse);
        predictor.Notice = message => Console.Error.WriteLine($"note: {message}");
        await using var server = new PolicyServer(predictor, options);
        using var stop = new CancellationTokenSource();
        var registrations = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM }.Select(signal => PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;   // shut down in order below
            if (!stop.IsCancellationRequested) Console.Error.WriteLine($"{context.Signal}: finishing the requests in flight, then exiting.");
            stop.Cancel();
        })).ToList();
        try
        {
            try
            {
                await server.StartAsync();
            }
            catch (IOException e)
            {
                throw new BadInputException($"Cannot listen on {options.Host}:{options.Port}: {e.Message.TrimEnd('.')}.");
            }
            Console.WriteLine($"Serving {predictor.Source} on {server.Uri} (health: {server.Uri.ToString().Replace("ws://", "http://")}healthz): " +
                $"chunks of {predictor.Spec.Horizon} × {predictor.Spec.ActionDim}, {(options.BatchWindowMs > 0 ? $"batches of up to {options.MaxBatch} within {options.BatchWindowMs} ms" : "no batching")}" +
                $"{(options.ApiKey is null ? "" : ", api key required")}. Ctrl-C stops.");
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            await server.StopAsync();
            var (batches, requests) = server.Served;
            Console.WriteLine($"Stopped after {requests} request(s) in {batches} model call(s).");
            return CliErrors.Ok;
        }
        finally
        {
            foreach (var registration in registrations) registration.Dispose();
        }
    }
}
