using System.Globalization;
using System.Net;
using System.Text;

namespace Vla.Evaluation;

/// <summary>
/// Small self-contained SVG charts (no script, no fonts to fetch) for reports and notebook renderers:
/// line charts of several series over a shared x axis, and grouped bar charts.
/// </summary>
public static class SvgChart
{
    /// <summary>One named series of y values.</summary>
    public sealed record Series(string Name, IReadOnlyList<double> Values, string Color, bool Dashed = false);

    /// <summary>Colours that stay apart for the usual two to four series.</summary>
    public static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    private const int Width = 520, Height = 260, Left = 58, Right = 12, Top = 28, Bottom = 40;

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Label(double v) => Math.Abs(v) >= 1000 || (Math.Abs(v) < 0.01 && v != 0)
        ? v.ToString("0.#E+0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>A line chart; point i sits at x = <paramref name="xStart"/> + i · <paramref name="xStep"/>.</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, long xStart = 0, long xStep = 1)
    {
        int n = series.Max(s => s.Values.Count);
        var (lo, hi) = Range(series.SelectMany(s => s.Values));
        var svg = Frame(title, xLabel, yLabel, lo, hi, out var Y);
        double X(int i) => Left + (n <= 1 ? 0.5 : i / (double)(n - 1)) * (Width - Left - Right);
        for (int i = 0; i < n; i += Math.Max(1, n / 8))
            svg.Append($"<text x=\"{F(X(i))}\" y=\"{Height - Bottom + 14}\" text-anchor=\"middle\">{xStart + i * xStep}</text>");
        foreach (var s in series)
        {
            var points = string.Join(" ", s.Values.Select((v, i) => double.IsFinite(v) ? $"{F(X(i))},{F(Y(v))}" : null).Where(p => p is not null));
            svg.Append($"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"1.8\"{(s.Dashed ? " stroke-dasharray=\"5 3\"" : "")} points=\"{points}\"/>");
        }
        return Legend(svg, series).Append("</svg>").ToString();
    }

    /// <summary>A grouped bar chart: one group per category, one bar per series.</summary>
    public static string Bars(string title, string xLabel, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<Series> series)
    {
        var (lo, hi) = Range(series.SelectMany(s => s.Values).Append(0));
        var svg = Frame(title, xLabel, yLabel, Math.Min(0, lo), hi, out var Y);
        double group = (Width - Left - Right) / (double)Math.Max(1, categories.Count);
        double bar = group * 0.8 / series.Count;
        for (int c = 0; c < categories.Count; c++)
        {
            double x0 = Left + c * group + group * 0.1;
            svg.Append($"<text x=\"{F(x0 + group * 0.4)}\" y=\"{Height - Bottom + 14}\" text-anchor=\"middle\">{WebUtility.HtmlEncode(categories[c])}</text>");
            for (int s = 0; s < series.Count; s++)
            {
                double v = series[s].Values[c];
                if (!double.IsFinite(v)) continue;
                double top = Math.Min(Y(v), Y(0)), h = Math.Abs(Y(v) - Y(0));
                svg.Append($"<rect x=\"{F(x0 + s * bar)}\" y=\"{F(top)}\" width=\"{F(bar * 0.92)}\" height=\"{F(Math.Max(h, 0.5))}\" fill=\"{series[s].Color}\"><title>{WebUtility.HtmlEncode(series[s].Name)} {WebUtility.HtmlEncode(categories[c])}: {Label(v)}</title></rect>");
            }
        }
        return Legend(svg, series).Append("</svg>").ToString();
    }

    private static (double Lo, double Hi) Range(IEnumerable<double> values)
    {
        var finite = values.Where(double.IsFinite).ToList();
        if (finite.Count == 0) return (0, 1);
        double lo = finite.Min(), hi = finite.Max();
        if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
        double pad = (hi - lo) * 0.05;
        return (lo >= 0 ? Math.Max(0, lo - pad) : lo - pad, hi + pad); // errors and counts keep 0 as their floor
    }

    private static StringBuilder Frame(string title, string xLabel, string yLabel, double lo, double hi, out Func<double, double> y)
    {
        var svg = new StringBuilder();
        svg.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"11\">");
        svg.Append($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.Append($"<text x=\"{Width / 2}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{WebUtility.HtmlEncode(title)}</text>");
        double Y(double v) => Top + (1 - (v - lo) / (hi - lo)) * (Height - Top - Bottom);
        y = Y;
        for (int i = 0; i <= 4; i++)
        {
            double v = lo + (hi - lo) * i / 4;
            svg.Append($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\" stroke=\"#e5e5e5\"/>");
            svg.Append($"<text x=\"{Left - 4}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\">{Label(v)}</text>");
        }
        svg.Append($"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Height - Bottom}\" stroke=\"#888\"/>");
        svg.Append($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Height - Bottom}\" y2=\"{Height - Bottom}\" stroke=\"#888\"/>");
        svg.Append($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 6}\" text-anchor=\"middle\">{WebUtility.HtmlEncode(xLabel)}</text>");
        svg.Append($"<text transform=\"translate(12 {(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{WebUtility.HtmlEncode(yLabel)}</text>");
        return svg;
    }

    private static StringBuilder Legend(StringBuilder svg, IReadOnlyList<Series> series)
    {
        double x = Left + 8;
        foreach (var s in series)
        {
            svg.Append($"<line x1=\"{F(x)}\" x2=\"{F(x + 16)}\" y1=\"{Top + 8}\" y2=\"{Top + 8}\" stroke=\"{s.Color}\" stroke-width=\"3\"{(s.Dashed ? " stroke-dasharray=\"5 3\"" : "")}/>");
            svg.Append($"<text x=\"{F(x + 20)}\" y=\"{Top + 12}\">{WebUtility.HtmlEncode(s.Name)}</text>");
            x += 30 + 6.5 * s.Name.Length;
        }
        return svg;
    }
}
