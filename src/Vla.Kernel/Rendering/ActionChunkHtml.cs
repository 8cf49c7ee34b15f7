using System.Text;
using Vla.Evaluation;
using Vla.Inference;

namespace Vla.Kernel.Rendering;

/// <summary>A predicted chunk as a table (one row per step) and a chart of every dimension over the horizon.</summary>
public static class ActionChunkHtml
{
    /// <summary>Renders <paramref name="chunk"/>.</summary>
    public static string Render(ActionChunk chunk)
    {
        var html = new StringBuilder("<div class=\"vla\">").Append(Html.Style);
        html.Append($"<h3>Action chunk: {chunk.Horizon} steps × {chunk.PerActionDim} dimensions</h3><div class=\"row\"><table><tr><th>step</th>");
        for (int d = 0; d < chunk.PerActionDim; d++) html.Append($"<th>{d}</th>");
        html.Append("</tr>");
        for (int h = 0; h < chunk.Horizon; h++)
        {
            html.Append($"<tr><td>{h}</td>");
            for (int d = 0; d < chunk.PerActionDim; d++) html.Append($"<td>{Html.Number(chunk[h, d])}</td>");
            html.Append("</tr>");
        }
        html.Append("</table>");
        var series = Enumerable.Range(0, chunk.PerActionDim)
            .Select(d => Html.DimensionSeries(d, d, Enumerable.Range(0, chunk.Horizon).Select(h => (double)chunk[h, d]).ToList()))
            .ToList();
        html.Append(SvgChart.Lines("actions over the chunk", "chunk step", "action (data units)", series));
        return html.Append("</div></div>").ToString();
    }
}
