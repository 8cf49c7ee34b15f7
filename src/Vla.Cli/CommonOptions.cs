using System.CommandLine;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Config;

namespace Vla.Cli;

/// <summary>Options several commands share, declared once.</summary>
internal static class CommonOptions
{
    /// <summary><c>--checkpoint</c>: the checkpoint folder a command loads.</summary>
    public static readonly Option<string> Checkpoint = CliOption.Create<string>("--checkpoint", "Checkpoint folder (e.g. experiments/sample/checkpoints/model_best).",
        required: true, "--checkpoint-path", "--checkpoint_path");

    /// <summary><c>--num-inference-steps</c>: Euler steps of a sampled chunk.</summary>
    public static readonly Option<string?> Tokenizer = CliOption.Create<string?>("--tokenizer", "PaliGemma's tokenizer.model, for a LeRobot pi0/pi0.5 folder that carries none.");

    public static readonly Option<int?> NumInferenceSteps = CliOption.Create<int?>("--num-inference-steps", "Euler steps (default: the checkpoint's).");

    /// <summary><c>--device</c>: cpu, cuda, cuda:N or auto.</summary>
    public static readonly Option<string?> Device = CliOption.Create<string?>("--device", "cpu, cuda, cuda:N or auto (CUDA when available).");

    /// <summary><c>--dtype</c>: the backbone's dtype.</summary>
    public static readonly Option<string?> Dtype = CliOption.Create<string?>("--dtype", "Backbone dtype: float32, bfloat16 or float16 (overrides model.vlm_config.dtype).");

    /// <summary>The seed's <c>--use_amp</c>: run the backbone in bfloat16.</summary>
    public static readonly Option<bool> UseAmp = CliOption.Create<bool>("--use-amp", "Same as --dtype bfloat16 (the Python original's spelling).");

    /// <summary><c>--episodes</c>: which episodes a data command reads.</summary>
    public static readonly Option<string?> Episodes = CliOption.Create<string?>("--episodes",
        "Episodes to use: indices and start:stop ranges, e.g. 41:43 or 0,5,9 (LeRobot: episode_index; Parquet files: position).");

    /// <summary><c>--data-format</c>: auto, seed or lerobot.</summary>
    public static readonly Option<string?> DataFormat = CliOption.Create<string?>("--data-format", "auto (a folder holding meta/info.json is a LeRobot dataset), seed or lerobot.");

    /// <summary><c>--image-keys</c>: a LeRobot dataset's cameras in order.</summary>
    public static readonly Option<string[]> ImageKeys = CliOption.Create<string[]>("--image-keys", "LeRobot camera features in order (default: every camera in info.json order).");

    /// <summary><c>--state-key</c>: a LeRobot dataset's state feature.</summary>
    public static readonly Option<string?> StateKey = CliOption.Create<string?>("--state-key", "LeRobot state feature (default observation.state).");

    /// <summary><c>--action-key</c>: a LeRobot dataset's action feature.</summary>
    public static readonly Option<string?> ActionKey = CliOption.Create<string?>("--action-key", "LeRobot action feature (default action).");

    /// <summary><c>--max-guidance-weight</c>: real-time chunking's cap on the guidance weight.</summary>
    public static readonly Option<double> MaxGuidanceWeight = new("--max-guidance-weight")
    {
        Description = "RTC: cap on the guidance weight (default 10).", DefaultValueFactory = _ => ChunkGuidance.DefaultMaxWeight,
    };

    /// <summary><c>--prefix-schedule</c>: how real-time chunking's weights fall off.</summary>
    public static readonly Option<string?> PrefixSchedule = CliOption.Create<string?>("--prefix-schedule", "RTC: linear (default, as LeRobot), exp (the paper's soft mask), ones or zeros.");

    /// <summary><c>--exact-jacobian</c>: guide through the head's Jacobian.</summary>
    public static readonly Option<bool> ExactJacobian = CliOption.Create<bool>("--exact-jacobian",
        "RTC: guide through the head's Jacobian (the paper; 3× the cost) instead of pulling towards the previous chunk directly (LeRobot's computation).");

    /// <summary>The real-time chunking settings the RTC options ask for.</summary>
    public static Inference.RtcSettings RtcSettings(ParseResult parse) => new(parse.GetValue(MaxGuidanceWeight), parse.GetValue(PrefixSchedule)?.ToLowerInvariant() switch
    {
        null or "linear" => Model.PrefixSchedule.Linear,
        "exp" => Model.PrefixSchedule.Exp,
        "ones" => Model.PrefixSchedule.Ones,
        "zeros" => Model.PrefixSchedule.Zeros,
        var name => throw new BadInputException($"--prefix-schedule is '{name}'; use linear, exp, ones or zeros."),
    }, parse.GetValue(ExactJacobian));

    /// <summary>The episode selection <c>--episodes</c> gives, or null.</summary>
    public static Config.EpisodeSelection? EpisodeSelection(ParseResult parse) =>
        parse.GetValue(Episodes) is { } text ? Config.EpisodeSelection.Parse([text], "--episodes") : null;

    /// <summary><paramref name="options"/> with what the data options on the command line say.</summary>
    public static Data.DataOptions DataKeys(ParseResult parse, Data.DataOptions options) => options with
    {
        Episodes = EpisodeSelection(parse) ?? options.Episodes,
        Format = parse.GetValue(DataFormat) is { } format
            ? format is "auto" or "seed" or "lerobot" ? format : throw new BadInputException($"--data-format must be auto, seed or lerobot (got '{format}').")
            : options.Format,
        ImageKeys = parse.GetValue(ImageKeys) is { Length: > 0 } keys ? keys : options.ImageKeys,
        StateKey = parse.GetValue(StateKey) ?? options.StateKey,
        ActionKey = parse.GetValue(ActionKey) ?? options.ActionKey,
    };

    /// <summary>The device <c>--device</c> names for an inference command (auto when absent).</summary>
    public static Device InferenceDevice(ParseResult parse) => ComputeDevice.Resolve(parse.GetValue(Device) ?? "auto", "--device");

    /// <summary>The backbone dtype <c>--dtype</c> (or <c>--use-amp</c>) asks for; null keeps the checkpoint's.</summary>
    public static ScalarType? InferenceDtype(ParseResult parse) =>
        parse.GetValue(Dtype) is { } dtype ? ModelDtype.Parse(dtype, "dtype") : parse.GetValue(UseAmp) ? ScalarType.BFloat16 : null;
}
