using System.CommandLine;
using Spectre.Console;
using Vla.Checkpoints;

namespace Vla.Cli.Commands;

/// <summary>
/// <c>vla export --checkpoint DIR --output DIR [--merge-lora] [--format vla|lerobot]</c>: a self-contained copy of a checkpoint
/// for inference, in this workbench's layout or, for pi0 and pi0.5, as a LeRobot policy folder (LoRA merged); a LeRobot or
/// openpi pi0/pi0.5 folder given as the checkpoint is rewritten as a LeRobot folder (an openpi checkpoint converted).
/// </summary>
internal static class ExportCommand
{
    private static readonly Option<string> Output = CliOption.Create<string>("--output", "Folder to write (replaced atomically if it exists).", required: true);
    private static readonly Option<bool> MergeLora = CliOption.Create<bool>("--merge-lora", "Fold the LoRA adapters into the base weights (W + (alpha/r)·B·A) instead of keeping them apart.");
    private static readonly Option<string> Format = CliOption.Create<string>("--format", "vla (this workbench's layout, the default) or lerobot (pi0 and pi0.5: a LeRobot policy folder, LoRA merged).");

    public static Command Create()
    {
        var command = new Command("export", "Write a self-contained copy of a checkpoint (base model included, optionally with LoRA merged) that eval, predict and caption load.")
        {
            CommonOptions.Checkpoint, Output, MergeLora, Format, CommonOptions.Tokenizer,
        };
        Format.DefaultValueFactory = _ => "vla";
        Format.AcceptOnlyFromAmong("vla", "lerobot");
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
        if (LeRobotPolicyFolder.Is(source)) return RewriteFolder(parse, source, output);
        var checkpoint = ModelFactory.FromCheckpoint(source);
        using var policy = checkpoint.Policy;
        if (policy is Model.PaliGemmaFlow.VlaModel { Backbone.SourceFolder: string baseFolder } && Full(baseFolder) == target)
            throw new Runtime.BadInputException($"--output {output} is the base model this checkpoint refers to; export into another folder.");
        if (parse.GetValue(Format) == "lerobot") return ExportLeRobot(checkpoint, source, output);
        bool merge = parse.GetValue(MergeLora);
        bool lora = checkpoint.Config.Model.Lora.Enabled;
        Checkpoint.Export(checkpoint, output, merge);
        string what = !lora ? "no LoRA adapters" : merge ? $"LoRA rank {checkpoint.Config.Model.Lora.Rank} merged into the base" : $"LoRA rank {checkpoint.Config.Model.Lora.Rank} adapters kept apart";
        AnsiConsole.MarkupLine($"Exported [bold]{Markup.Escape(source)}[/] to [bold]{Markup.Escape(output)}[/] ({what}).");
        return CliErrors.Ok;
    }

    /// <summary>A LeRobot or openpi folder written again as a LeRobot folder (<c>--format lerobot</c>, the only one that applies).</summary>
    private static int RewriteFolder(ParseResult parse, string source, string output)
    {
        if (parse.GetValue(Format) != "lerobot")
            throw new Runtime.BadInputException($"{source} is a pi0/pi0.5 policy folder, not a checkpoint of this workbench: it can be written again with --format lerobot.");
        var loaded = LeRobotPolicyFolder.Load(source, parse.GetValue(CommonOptions.Tokenizer));
        using var policy = loaded.Policy;
        LeRobotPolicyWriter.Save(policy, loaded.Stats, loaded.Mode, loaded.Cameras, output);
        AnsiConsole.MarkupLine($"Wrote [bold]{Markup.Escape(source)}[/] to [bold]{Markup.Escape(output)}[/] as a LeRobot {policy.Spec.Family} folder.");
        return CliErrors.Ok;
    }

    private static int ExportLeRobot(Checkpoint.Loaded checkpoint, string source, string output)
    {
        if (checkpoint.Policy is not Model.Pi0.Pi0Policy pi0)
            throw new Runtime.BadInputException($"--format lerobot: {source} holds a {checkpoint.Policy.Spec.Family} policy; LeRobot folders are written for pi0 and pi05 checkpoints.");
        var mode = Data.Normalizer.ParseMode(checkpoint.Config.Data.NormalizationMode);
        LeRobotPolicyWriter.Save(pi0, checkpoint.State.NormalizationStats, mode, Pi0Factory.CameraNames(checkpoint.Config, pi0.Spec.Cameras), output);
        var (vlm, expert) = pi0.Adapters;
        string what = vlm.Enabled || expert.Enabled ? "LoRA merged" : "no LoRA adapters";
        AnsiConsole.MarkupLine($"Exported [bold]{Markup.Escape(source)}[/] to [bold]{Markup.Escape(output)}[/] as a LeRobot {pi0.Spec.Family} folder ({what}).");
        return CliErrors.Ok;
    }
}
