using System.Text;
using Vla.Data;

namespace Vla.Kernel.Rendering;

/// <summary>
/// Normalization statistics as a table per section (state, action) with, on every row, a bar that shows
/// where that dimension lives: min–max (light), q01–q99 (dark) and the mean (tick), on the section's shared axis.
/// </summary>
public static class NormalizationStatsHtml
{
    private const int BarWidth = 220, BarHeight = 14;

    /// <summary>Renders <paramref name="stats"/>.</summary>
    public static string Render(NormalizationStats stats)
    {
        var html = new StringBuilder("<div class=\"vla\">").Append(Html.Style);
        html.Append($"<h3>Normalization statistics</h3><p class=\"note\">{stats.NumEpisodes} episodes")
            .Append(stats.SourceFiles.Count > 0 ? $" from {stats.SourceFiles.Count} file(s)" : "").Append(".</p>");
        AppendSection(html, "state", stats.State);
        AppendSection(html, "action", stats.Action);
        return html.Append("</div>").ToString();
    }

    private static void AppendSection(StringBuilder html, string name, DimensionStats s)
    {
        html.Append($"<h3>{name} ({s.Dim} dimensions, {Html.Int(s.Count)} rows)</h3>");
        if (s.Dim == 0) { html.Append("<p class=\"note\">none</p>"); return; }
        double lo = s.Min.Min(), hi = s.Max.Max();
        if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
        html.Append("<table><tr><th>dim</th><th>min</th><th>q01</th><th>mean</th><th>std</th><th>q99</th><th>max</th>")
            .Append($"<th style=\"text-align:left\">range on [{Html.Number(lo)}, {Html.Number(hi)}]</th></tr>");
        for (int d = 0; d < s.Dim; d++)
        {
            bool quantiles = s.Q01.Length > d && s.Q99.Length > d; // files made without quantiles lack them
            html.Append($"<tr><td>{d}</td><td>{Html.Number(s.Min[d])}</td><td>{(quantiles ? Html.Number(s.Q01[d]) : "–")}</td><td>{Html.Number(s.Mean[d])}</td>")
                .Append($"<td>{Html.Number(s.Std[d])}</td><td>{(quantiles ? Html.Number(s.Q99[d]) : "–")}</td><td>{Html.Number(s.Max[d])}</td>")
                .Append($"<td>{Bar(s.Min[d], quantiles ? s.Q01[d] : s.Min[d], s.Mean[d], quantiles ? s.Q99[d] : s.Max[d], s.Max[d], lo, hi)}</td></tr>");
        }
        html.Append("</table>");
    }

    private static string Bar(double min, double q01, double mean, double q99, double max, double lo, double hi)
    {
        string X(double v) => Html.Number(Math.Clamp((v - lo) / (hi - lo), 0, 1) * BarWidth);
        string W(double a, double b) => Html.Number(Math.Max(1, (b - a) / (hi - lo) * BarWidth));
        return $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{BarWidth}\" height=\"{BarHeight}\">" +
               $"<rect width=\"{BarWidth}\" height=\"{BarHeight}\" fill=\"#f7f7f7\"/>" +
               $"<rect x=\"{X(min)}\" y=\"3\" width=\"{W(min, max)}\" height=\"{BarHeight - 6}\" fill=\"#aec7e8\"/>" +
               $"<rect x=\"{X(q01)}\" y=\"3\" width=\"{W(q01, q99)}\" height=\"{BarHeight - 6}\" fill=\"#1f77b4\"/>" +
               $"<line x1=\"{X(mean)}\" x2=\"{X(mean)}\" y1=\"0\" y2=\"{BarHeight}\" stroke=\"#d62728\" stroke-width=\"2\"/></svg>";
    }
}
