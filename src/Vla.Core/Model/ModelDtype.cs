using Vla.Config;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// <c>model.vlm_config.dtype</c>: the backbone's storage and compute dtype. The action head and the
/// projectors always keep float32 weights; norms, softmax, the loss and the flow-time embedding compute in
/// float32 (RMSNorm casts up itself; libtorch's LayerNorm and attention kernels accumulate half-precision
/// inputs in float32).
/// </summary>
public static class ModelDtype
{
    /// <summary>The dtype a setting names (<c>float32</c>, <c>bfloat16</c>, <c>float16</c>, with or without <c>torch.</c>).</summary>
    public static ScalarType Parse(string setting, string key = "model.vlm_config.dtype") => ConfigValidator.NormalizeDtype(setting.Trim()) switch
    {
        "float32" or "float" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" or "half" => ScalarType.Float16,
        _ => throw new BadInputException($"{key} must be float32, bfloat16 or float16 (got '{setting}')."),
    };

    /// <summary>The config spelling of <paramref name="dtype"/>.</summary>
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => dtype.ToString(),
    };

    /// <summary>True for bfloat16 and float16, whose trained parameters need float32 master copies.</summary>
    public static bool IsHalf(ScalarType dtype) => dtype is ScalarType.BFloat16 or ScalarType.Float16;
}
