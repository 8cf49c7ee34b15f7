using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>
/// The processor a figure was measured on: its model name and the instruction-set flags that decide which kernels
/// libtorch runs (AVX2, AVX-512, AVX-512 BF16, AMX). Every part writes it beside its figures, because the same code
/// reads very differently on Intel and AMD hosts (see bench/README.md).
/// </summary>
internal static class Host
{
    /// <summary>The /proc/cpuinfo flags that matter here, in the order they are reported.</summary>
    public static readonly string[] Flags = ["avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"];

    /// <summary>The CPU's model name.</summary>
    public static string CpuModel() => Field("model name") ?? "unknown CPU";

    /// <summary>Which of <see cref="Flags"/> the CPU has.</summary>
    public static IReadOnlyList<string> PresentFlags()
    {
        var flags = (Field("flags") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        return Flags.Where(flags.Contains).ToList();
    }

    /// <summary>"model (flags), N cores": the machine line of a figure.</summary>
    public static string Summary() => $"{CpuModel()} ({string.Join(", ", PresentFlags())}), {Environment.ProcessorCount} cores";

    /// <summary>The processor as JSON: model, flags, cores.</summary>
    public static JsonObject Processor() => new()
    {
        ["model"] = CpuModel(),
        ["flags"] = new JsonArray(PresentFlags().Select(f => (JsonNode)f).ToArray()),
        ["cores"] = Environment.ProcessorCount,
    };

    private static string? Field(string name) => File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
        : null;
}
