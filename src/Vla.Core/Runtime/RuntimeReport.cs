using System.Reflection;
using TorchSharp;

namespace Vla.Runtime;

/// <summary>What <c>vla diagnose</c> prints about the runtime: versions, devices, the native-library fix.</summary>
public sealed record RuntimeReport(IReadOnlyList<(string Key, string Value)> Lines, bool Healthy)
{
    /// <summary>Probes the runtime (loads libtorch).</summary>
    public static RuntimeReport Collect()
    {
        var lines = new List<(string, string)>();
        var status = TorchRuntime.Prepare();
        lines.Add(("vla", typeof(RuntimeReport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"));
        lines.Add((".NET", Environment.Version.ToString()));
        lines.Add(("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription));
        lines.Add(("TorchSharp", typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
            ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "?"));
        lines.Add(("libstdc++ fix", status.Error is not null ? $"FAILED: {status.Error}"
            : status.FixApplied ? $"applied (weakened {string.Join(", ", status.WeakenedVersions)}; loaded {status.PatchedPath})"
            : "not needed"));
        if (status.Error is not null) return new RuntimeReport(lines, false);
        lines.Add(("oneMKL vendor check", MklVendorCheck.Outcome ?? "not looked at"));
        try
        {
            lines.Add(("libtorch", torch.__version__));
            lines.Add(("cpu threads", $"{torch.get_num_threads()} (of {Environment.ProcessorCount} cores)"));
            bool cuda = torch.cuda.is_available();
            lines.Add(("cuda", cuda ? $"available, {torch.cuda.device_count()} device(s)" : "not available"));
            using var scope = torch.NewDisposeScope();
            var check = torch.ones(64, 64).matmul(torch.ones(64, 64)).sum();
            lines.Add(("matmul check", check.item<float>() == 64 * 64 * 64 ? "ok" : $"WRONG ({check.item<float>()})"));
            return new RuntimeReport(lines, true);
        }
        catch (Exception e)
        {
            lines.Add(("libtorch", $"FAILED to load: {e.Message}"));
            return new RuntimeReport(lines, false);
        }
    }
}
