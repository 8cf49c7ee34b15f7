using System.Reflection;

namespace Vla.Kernel;

/// <summary>
/// Whether Plotly.NET 6 can run in this notebook host. It needs FSharp.Core 10.1 or later; a host that
/// already loaded an older FSharp.Core (the dotnet-interactive tool behind VS Code ships 10.0) cannot
/// load a second one, so Plotly calls would fail there. Notebooks check this and fall back to the
/// extension's SVG charts, which show the same data.
/// </summary>
public static class PlotlySupport
{
    /// <summary>The FSharp.Core version Plotly.NET 6 needs.</summary>
    public static readonly Version Required = new(10, 1);

    /// <summary>The FSharp.Core version this process has (or would load), or null when it has none.</summary>
    public static Version? FSharpCoreVersion()
    {
        var loaded = AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.GetName().Name == "FSharp.Core");
        if (loaded is not null) return loaded.GetName().Version;
        try { return Assembly.Load(new AssemblyName("FSharp.Core")).GetName().Version; }
        catch (IOException) { return null; }
    }

    /// <summary>True when Plotly.NET charts can be drawn here.</summary>
    public static bool IsAvailable => FSharpCoreVersion() is { } v && v >= Required;

    /// <summary>A sentence saying why Plotly.NET charts are not drawn in this host (empty when they are).</summary>
    public static string Explanation => IsAvailable ? "" :
        $"Plotly.NET 6 needs FSharp.Core {Required} or later; this notebook host has {FSharpCoreVersion()?.ToString() ?? "none"} " +
        "(VS Code's dotnet-interactive kernel ships an older one), so the interactive chart is skipped. The SVG charts above show the same data; " +
        "run the notebook with `vla-notebooks run` (see README) to get the Plotly charts.";
}
