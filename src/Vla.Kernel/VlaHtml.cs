using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Html;
using Vla.Data;
using Vla.Evaluation;
using Vla.Inference;
using Vla.Kernel.Rendering;
using Vla.Training;

namespace Vla.Kernel;

/// <summary>
/// The extension's renderings as HTML values a cell can display, combine or save (every one is
/// self-contained: images inline, charts as SVG, no script). The formatters <see cref="VlaKernel"/>
/// registers call these.
/// </summary>
public static class VlaHtml
{
    /// <summary>An episode: frame strips of both cameras, prompt, state and action curves.</summary>
    public static IHtmlContent Episode(Episode episode, ImageStore? images = null, int maxFrames = 8) => new HtmlString(EpisodeHtml.Render(episode, images, maxFrames));

    /// <summary>Episode <paramref name="index"/> (its position) of <paramref name="dataset"/>: frames from any source (LeRobot video too) and named dimensions.</summary>
    public static IHtmlContent Episode(EpisodeDataset dataset, int index, int maxFrames = 8) => new HtmlString(EpisodeHtml.Render(dataset, index, maxFrames));

    /// <summary>Normalization statistics: table and per-dimension ranges.</summary>
    public static IHtmlContent Stats(NormalizationStats stats) => new HtmlString(NormalizationStatsHtml.Render(stats));

    /// <summary>Training curves as they stand.</summary>
    public static IHtmlContent Training(TrainingHistory history) => new HtmlString(TrainingHistoryHtml.Render(history));

    /// <summary>An evaluation report: summary, error per horizon step and per dimension, trajectories.</summary>
    public static IHtmlContent Evaluation(EvalResult result) => new HtmlString(EvalReportWriter.Body(result));

    /// <summary>A predicted action chunk: table and curves.</summary>
    public static IHtmlContent Chunk(ActionChunk chunk) => new HtmlString(ActionChunkHtml.Render(chunk));

    /// <summary>Rows as a table: one column per public property, in declaration order (anonymous types work).</summary>
    public static IHtmlContent Table<T>(IEnumerable<T> rows)
    {
        var properties = typeof(T).GetProperties();
        var html = new StringBuilder("<div class=\"vla\">").Append(Rendering.Html.Style).Append("<table><tr>");
        foreach (var p in properties) html.Append($"<th>{Rendering.Html.Encode(p.Name)}</th>");
        html.Append("</tr>");
        foreach (var row in rows)
        {
            html.Append("<tr>");
            foreach (var p in properties)
            {
                object? value = p.GetValue(row);
                string cell = value switch { double d => Rendering.Html.Number(d), float f => Rendering.Html.Number(f), _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "" };
                html.Append(value is string ? $"<td style=\"text-align:left\">{Rendering.Html.Encode(cell)}</td>" : $"<td>{Rendering.Html.Encode(cell)}</td>");
            }
            html.Append("</tr>");
        }
        return new HtmlString(html.Append("</table></div>").ToString());
    }

    /// <summary>
    /// An image with paths drawn over it: each path is a list of points in the image's pixel coordinates
    /// (x right, y down), drawn as a line with a dot per point (the first solid, later ones dashed) and named in a legend.
    /// </summary>
    public static IHtmlContent PathsOverImage(byte[] image, int imageWidth, int imageHeight,
        IReadOnlyList<(string Label, IReadOnlyList<(double X, double Y)> Points)> paths, int displayWidth = 320)
    {
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        double scale = displayWidth / (double)imageWidth;
        int displayHeight = (int)Math.Round(imageHeight * scale);
        var svg = new StringBuilder($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{displayWidth}\" height=\"{displayHeight}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append($"<image href=\"{Rendering.Html.DataUri(image)}\" width=\"{displayWidth}\" height=\"{displayHeight}\" style=\"image-rendering:pixelated\"/>");
        for (int p = 0; p < paths.Count; p++)
        {
            var (label, points) = paths[p];
            string color = SvgChart.Palette[p % SvgChart.Palette.Length];
            string dash = p > 0 ? " stroke-dasharray=\"4 3\"" : ""; // later paths dashed, so one drawn over another stays visible
            svg.Append($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"{dash} points=\"{string.Join(" ", points.Select(q => $"{F(q.X * scale)},{F(q.Y * scale)}"))}\"/>");
            foreach (var q in points) svg.Append($"<circle cx=\"{F(q.X * scale)}\" cy=\"{F(q.Y * scale)}\" r=\"3\" fill=\"{color}\"/>");
            svg.Append($"<text x=\"8\" y=\"{18 + 16 * p}\" fill=\"{color}\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">{Rendering.Html.Encode(label)}</text>");
        }
        return new HtmlString(svg.Append("</svg>").ToString());
    }
}
