using System.CommandLine;
using System.Text.Json;
using Vla.Inference;

namespace Vla.Cli.Commands;

/// <summary><c>vla caption --model-dir DIR --image IMG --prompt TEXT</c>: greedy PaliGemma generation, a check of the backbone and its weights.</summary>
internal static class CaptionCommand
{
    private static readonly Option<string> ModelDir = CliOption.Create<string>("--model-dir", "Hugging Face PaliGemma folder (config.json, *.safetensors, tokenizer.model), or a training checkpoint (its backbone, LoRA adapters included).", required: true);
    private static readonly Option<string> Image = CliOption.Create<string>("--image", "PNG or JPEG image.", required: true);
    private static readonly Option<string> Prompt = CliOption.Create<string>("--prompt", "Text after the image, e.g. \"caption en\".", required: true);
    private static readonly Option<int> MaxNewTokens = CliOption.Create<int>("--max-new-tokens", "Most tokens to generate (default 20).");
    private static readonly Option<string> DumpLogits = CliOption.Create<string>("--dump-logits", "Write prompt ids, generated ids and the first step's logits as JSON.");

    public static Command Create()
    {
        MaxNewTokens.DefaultValueFactory = _ => 20;
        var command = new Command("caption", "Greedy PaliGemma generation for one image and prompt (checks the backbone and its weights).")
        {
            ModelDir, Image, Prompt, MaxNewTokens, DumpLogits, CommonOptions.Device, CommonOptions.Dtype,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run(parse)), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        int maxNew = parse.GetValue(MaxNewTokens);
        if (maxNew < 1) throw new Runtime.BadInputException("--max-new-tokens must be at least 1.");
        using var captioner = PaliGemmaCaptioner.Load(parse.GetValue(ModelDir)!, CommonOptions.InferenceDevice(parse), CommonOptions.InferenceDtype(parse));
        var (text, result) = captioner.Caption(parse.GetValue(Image)!, parse.GetValue(Prompt)!, maxNew);
        Console.WriteLine(text);
        if (parse.GetValue(DumpLogits) is { } path)
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["prompt_ids"] = result.PromptIds,
                ["token_ids"] = result.TokenIds,
                ["first_step_logits"] = result.FirstStepLogits,
            });
            File.WriteAllText(path, json);
        }
        return CliErrors.Ok;
    }
}
