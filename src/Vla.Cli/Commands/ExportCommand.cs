using System.CommandLine;
using Spectre.Console;
using Vla.Checkpoints;

namespace Vla.Cli.Commands;

/// <summary><c>vla export --checkpoint DIR --output DIR [--merge-lora]</c>: a self-contained copy of a checkpoint for inference.</summary>
internal static class ExportCommand
{
    private static readonly Option<string> Output = CliOption.Create<string>("--output", "Folder to write (replaced atomically if it exists).", required: true);
    private static readonly Option<bool> MergeLora = CliOption.Create<bool>("--merge-lora", "Fold the LoRA adapters into the base weights (W + (alpha/r)·B·A) instead of keeping them apart.");

    public static Command Create()
    {
        var command = new Command("export", "Write a self-contained copy of a checkpoint (base model included, optionally with LoRA merged) that eval, predict and caption load.")
        {
            CommonOptions.Checkpoint, Output, MergeLora,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run(parse)), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        string source = parse.GetValue(CommonOptions.Checkpoint)!;
        string output = parse.GetValue(Output)!;
        static string Full(string path) => Path.GetFullPath(path).TrimEnd('/');
        string target = Full(output);
        if (target == Full(source) || target.StartsWith(Full(source) + "/", StringComparison.Ordinal))
            throw new Runtime.BadInputException($"--output {output} is the checkpoint or inside it; export into another folder.");
        var checkpoint = ModelFactory.FromCheckpoint(source);
        using var policy = checkpoint.Policy;
        if (policy is Model.PaliGemmaFlow.VlaModel { Backbone.SourceFolder: string baseFolder } && Full(baseFolder) == target)
            throw new Runtime.BadInputException($"--output {output} is the base model this checkpoint refers to; export into another folder.");
        bool merge = parse.GetValue(MergeLora);
        bool lora = checkpoint.Config.Model.Lora.Enabled;
        Checkpoint.Export(checkpoint, output, merge);
        string what = !lora ? "no LoRA adapters" : merge ? $"LoRA rank {checkpoint.Config.Model.Lora.Rank} merged into the base" : $"LoRA rank {checkpoint.Config.Model.Lora.Rank} adapters kept apart";
        AnsiConsole.MarkupLine($"Exported [bold]{Markup.Escape(source)}[/] to [bold]{Markup.Escape(output)}[/] ({what}).");
        return CliErrors.Ok;
    }
}
