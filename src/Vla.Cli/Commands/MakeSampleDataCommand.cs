using System.CommandLine;
using Vla.Data.Synthetic;
using Vla.Model;

namespace Vla.Cli.Commands;

/// <summary><c>vla make-sample-data --out DIR</c>: writes the deterministic synthetic tabletop dataset.</summary>
internal static class MakeSampleDataCommand
{
    private static readonly Option<string> Out = CliOption.Create<string>("--out", "Folder to write train/ and val/ into.", aliases: "-o");
    private static readonly Option<int> TrainEpisodes = CliOption.Create<int>("--train-episodes", "Training episodes (default 60).");
    private static readonly Option<int> ValEpisodes = CliOption.Create<int>("--val-episodes", "Validation episodes (default 15).");
    private static readonly Option<int> ImageSize = CliOption.Create<int>("--image-size", "Image side in pixels (default 64).");
    private static readonly Option<int> Seed = CliOption.Create<int>("--seed", "Generator seed (default 7).");

    public static Command Create()
    {
        Out.DefaultValueFactory = _ => "data-samples";
        var command = new Command("make-sample-data", "Write the synthetic tabletop episode dataset, the tiny sample PaliGemma and the tiny sample pi0 (deterministic).")
        {
            Out, TrainEpisodes, ValEpisodes, ImageSize, Seed,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var defaults = new SampleDataGenerator.Options();
        var options = defaults with
        {
            TrainEpisodes = parse.GetResult(TrainEpisodes) is null ? defaults.TrainEpisodes : parse.GetValue(TrainEpisodes),
            ValEpisodes = parse.GetResult(ValEpisodes) is null ? defaults.ValEpisodes : parse.GetValue(ValEpisodes),
            ImageSize = parse.GetResult(ImageSize) is null ? defaults.ImageSize : parse.GetValue(ImageSize),
            Seed = parse.GetResult(Seed) is null ? defaults.Seed : parse.GetValue(Seed),
        };
        if (options.TrainEpisodes < 1 || options.ValEpisodes < 0 || options.ImageSize < 8)
            throw new Runtime.BadInputException("--train-episodes must be at least 1, --val-episodes at least 0 and --image-size at least 8.");
        string output = parse.GetValue(Out)!;
        foreach (var split in new[] { "train", "val" })
        {
            string dir = Path.Combine(output, split);
            if (!Directory.Exists(dir)) continue;
            foreach (var stale in Directory.EnumerateFiles(dir, "episodes-*.parquet")) File.Delete(stale);
        }
        var files = await SampleDataGenerator.WriteAsync(output, options, ct);
        long bytes = files.Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"Wrote {options.TrainEpisodes} training and {options.ValEpisodes} validation episodes to {output} ({files.Count} files, {bytes / 1024.0 / 1024.0:F2} MB).");
        string modelDir = Path.Combine(output, "tiny-paligemma");
        SampleModelFolder.Write(modelDir, options.Seed);
        Console.WriteLine($"Wrote the sample PaliGemma (random initial weights) and its tokenizer to {modelDir}.");
        string pi0Dir = Path.Combine(output, "tiny-pi0");
        Checkpoints.SamplePi0Folder.Write(pi0Dir, options.Seed);
        Console.WriteLine($"Wrote the sample pi0 (a LeRobot policy folder, random weights) to {pi0Dir}.");
        return CliErrors.Ok;
    }
}
