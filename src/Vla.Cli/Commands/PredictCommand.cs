using System.CommandLine;
using Spectre.Console;
using Vla.Inference;
using Vla.Runtime;

namespace Vla.Cli.Commands;

/// <summary>
/// <c>vla predict --checkpoint DIR --image1 IMG… [--image2 IMG… --image3 IMG… …] --prompt TEXT [--state v…] [--noise FILE.npy] [--tokenizer FILE]</c>:
/// one action chunk, denormalized. DIR is one of our checkpoints or a LeRobot pi0/pi0.5 folder.
/// </summary>
internal static class PredictCommand
{
    private static readonly Option<string[]> Image1 = CliOption.Create<string[]>("--image1", "Main-camera frame(s), oldest first.", required: true, "--image1-paths", "--image1_paths");
    private static readonly Option<string[]> Image2 = CliOption.Create<string[]>("--image2", "Wrist-camera frame(s), oldest first.", false, "--image2-paths", "--image2_paths");
    private static readonly Option<string[]>[] MoreImages = [.. Enumerable.Range(3, 4).Select(n =>
        CliOption.Create<string[]>($"--image{n}", $"Camera {n}'s frame(s), oldest first, for policies that read {n} cameras or more (released pi0: 3).", false))];
    private static readonly Option<string> Prompt = CliOption.Create<string>("--prompt", "The instruction.", required: true);
    private static readonly Option<float[]> State = CliOption.Create<float[]>("--state", "Robot state values.", false, "--state-vector", "--state_vector");
    private static readonly Option<string?> Output = CliOption.Create<string?>("--output", "Also write the chunk as JSON to this file.", false, "--output-file", "--output_file");
    private static readonly Option<long?> Seed = CliOption.Create<long?>("--seed", "Fix the sampled noise (reproducible output).");
    private static readonly Option<string?> Noise = CliOption.Create<string?>("--noise",
        "Start from this noise instead of a draw: a float32 .npy of horizon × the policy's noise width (pi0/pi0.5: chunk_size × max_action_dim).");

    public static Command Create()
    {
        foreach (var option in (Option[])[Image1, Image2, State, .. MoreImages]) option.AllowMultipleArgumentsPerToken = true;
        var command = new Command("predict", "Predict one action chunk for one observation (images, prompt, state).")
        {
            CommonOptions.Checkpoint, Image1, Image2, Prompt, State, Output, CommonOptions.NumInferenceSteps, Seed, Noise, CommonOptions.Tokenizer, CommonOptions.Device, CommonOptions.Dtype,
        };
        foreach (var option in MoreImages) command.Options.Add(option);
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run(parse)), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        using var predictor = VlaPredictor.Load(parse.GetValue(CommonOptions.Checkpoint)!, CommonOptions.InferenceDevice(parse), CommonOptions.InferenceDtype(parse),
            parse.GetValue(CommonOptions.Tokenizer));
        predictor.Notice = message => Console.Error.WriteLine($"note: {message}");
        float[]? noise = null;
        if (parse.GetValue(Noise) is { } noisePath)
        {
            var (values, shape) = NpyFile.ReadFloat32(noisePath);
            if (!shape.SequenceEqual(predictor.NoiseShape))
                throw new BadInputException($"{noisePath}: the noise has shape ({string.Join(", ", shape)}); this policy starts from ({string.Join(", ", predictor.NoiseShape)}).");
            if (values.Any(v => !float.IsFinite(v))) throw new BadInputException($"{noisePath}: the noise holds NaN or infinite values.");
            noise = values;
        }
        var state = parse.GetValue(State);
        var cameras = new List<IReadOnlyList<string>> { parse.GetValue(Image1)! };
        var more = ((Option<string[]>[])[Image2, .. MoreImages]).Select(o => (o.Name, Frames: parse.GetValue(o))).ToList();
        int given = more.FindLastIndex(m => m.Frames is { Length: > 0 }) + 1;
        foreach (var (name, frames) in more.Take(given))
            cameras.Add(frames is { Length: > 0 } ? frames : throw new BadInputException($"{name} is missing although a later camera is given."));
        var observation = RobotObservation.FromFiles(cameras, parse.GetValue(Prompt)!, state is { Length: > 0 } ? state : null, predictor.Data.MaxImagePixels);
        var chunk = predictor.Predict(observation, parse.GetValue(CommonOptions.NumInferenceSteps), parse.GetValue(Seed), noise: noise);

        var table = new Table().AddColumn("step");
        for (int d = 0; d < chunk.PerActionDim; d++) table.AddColumn(new TableColumn($"a{d}").RightAligned());
        for (int h = 0; h < chunk.Horizon; h++)
            table.AddRow([h.ToString(), .. Enumerable.Range(0, chunk.PerActionDim).Select(d => chunk[h, d].ToString("0.0000"))]);
        AnsiConsole.Write(table);
        if (parse.GetValue(Output) is { } path)
        {
            File.WriteAllText(path, chunk.ToJson());
            Console.WriteLine($"Wrote {path}.");
        }
        return CliErrors.Ok;
    }
}
