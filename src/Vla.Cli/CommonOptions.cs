using System.CommandLine;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Cli;

/// <summary>Options several commands share, declared once.</summary>
internal static class CommonOptions
{
    /// <summary><c>--checkpoint</c>: the checkpoint folder a command loads.</summary>
    public static readonly Option<string> Checkpoint = CliOption.Create<string>("--checkpoint", "Checkpoint folder (e.g. experiments/sample/checkpoints/model_best).",
        required: true, "--checkpoint-path", "--checkpoint_path");

    /// <summary><c>--num-inference-steps</c>: Euler steps of a sampled chunk.</summary>
    public static readonly Option<int?> NumInferenceSteps = CliOption.Create<int?>("--num-inference-steps", "Euler steps (default: the checkpoint's).");

    /// <summary><c>--device</c>: cpu, cuda, cuda:N or auto.</summary>
    public static readonly Option<string?> Device = CliOption.Create<string?>("--device", "cpu, cuda, cuda:N or auto (CUDA when available).");

    /// <summary><c>--dtype</c>: the backbone's dtype.</summary>
    public static readonly Option<string?> Dtype = CliOption.Create<string?>("--dtype", "Backbone dtype: float32, bfloat16 or float16 (overrides model.vlm_config.dtype).");

    /// <summary>The seed's <c>--use_amp</c>: run the backbone in bfloat16.</summary>
    public static readonly Option<bool> UseAmp = CliOption.Create<bool>("--use-amp", "Same as --dtype bfloat16 (the Python original's spelling).");

    /// <summary>The device <c>--device</c> names for an inference command (auto when absent).</summary>
    public static Device InferenceDevice(ParseResult parse) => ComputeDevice.Resolve(parse.GetValue(Device) ?? "auto", "--device");

    /// <summary>The backbone dtype <c>--dtype</c> (or <c>--use-amp</c>) asks for; null keeps the checkpoint's.</summary>
    public static ScalarType? InferenceDtype(ParseResult parse) =>
        parse.GetValue(Dtype) is { } dtype ? ModelDtype.Parse(dtype, "dtype") : parse.GetValue(UseAmp) ? ScalarType.BFloat16 : null;
}
