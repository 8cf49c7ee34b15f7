using System.Net;
using System.Text;
using Markdig;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;

namespace Vla.Notebooks;

/// <summary>
/// Writes an executed notebook as one standalone HTML page (markdown rendered, code, outputs inline) so it
/// can be read, or screenshotted, without a notebook editor. Plotly.NET outputs fetch require.js and
/// plotly.js from CDNs; given the plotly.js script, the page embeds it with a stand-in for require.js,
/// so the charts draw offline.
/// </summary>
internal static class NotebookHtmlExporter
{
    /// <summary>What Plotly.NET's notebook output asks require.js for.</summary>
    private const string PlotlyRequireMarker = "requirejs.config({context:'fsharp-plotly'";

    /// <summary>A stand-in for require.js that hands the embedded Plotly to Plotly.NET's loader.</summary>
    private const string RequireShim =
        "var requirejs = function () {}; requirejs.config = function () { return function (deps, ready) { ready(window.Plotly); }; };";

    /// <summary>The page for the notebook at <paramref name="path"/>.</summary>
    public static async Task<string> ExportAsync(string path, string? plotlyScript)
    {
        string json = await File.ReadAllTextAsync(path);
        var document = await NotebookRunner.Load(path, () => Task.FromResult(Notebook.Parse(json, NotebookRunner.Kernels)));
        var pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();
        var html = new StringBuilder("<!DOCTYPE html><html><head><meta charset=\"utf-8\">")
            .Append($"<title>{WebUtility.HtmlEncode(Path.GetFileNameWithoutExtension(path))}</title><style>")
            .Append("body{font-family:sans-serif;max-width:1180px;margin:20px auto;color:#222}pre.code{background:#f6f8fa;border:1px solid #e1e4e8;padding:8px;font-size:12px;overflow:auto}")
            .Append(".out{margin:6px 0 18px 18px}.err{color:#b00020;white-space:pre-wrap}pre.text{font-size:12px;margin:4px 0}")
            .Append("table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px}</style></head><body>");
        if (plotlyScript is not null && document.Elements.Any(c => c.Outputs.Any(o => OutputHtml(o).Contains(PlotlyRequireMarker))))
            html.Append("<script>").Append(plotlyScript).Append("</script><script>").Append(RequireShim).Append("</script>");
        foreach (var cell in document.Elements)
        {
            if (cell.KernelName == "markdown") { html.Append(Markdown.ToHtml(cell.Contents, pipeline)); continue; }
            html.Append($"<pre class=\"code\">{WebUtility.HtmlEncode(cell.Contents)}</pre><div class=\"out\">");
            foreach (var output in cell.Outputs)
            {
                switch (output)
                {
                    case DisplayElement d: html.Append(Render(d.Data)); break;
                    case ReturnValueElement r: html.Append(Render(r.Data)); break;
                    case TextElement t: html.Append($"<pre class=\"text\">{WebUtility.HtmlEncode(t.Text)}</pre>"); break;
                    case ErrorElement e: html.Append($"<div class=\"err\">{WebUtility.HtmlEncode(e.ErrorName)}: {WebUtility.HtmlEncode(e.ErrorValue)}</div>"); break;
                }
            }
            html.Append("</div>");
        }
        return html.Append("</body></html>").ToString();
    }

    private static string OutputHtml(InteractiveDocumentOutputElement output) => output switch
    {
        DisplayElement d when d.Data.TryGetValue("text/html", out var v) => Text(v),
        ReturnValueElement r when r.Data.TryGetValue("text/html", out var v) => Text(v),
        _ => "",
    };

    private static string Render(IDictionary<string, object> data)
    {
        if (data.TryGetValue("text/html", out var html)) return Text(html);
        if (data.TryGetValue("text/plain", out var text)) return $"<pre class=\"text\">{WebUtility.HtmlEncode(Text(text))}</pre>";
        return "";
    }

    private static string Text(object value) => value switch
    {
        string s => s,
        IEnumerable<object> parts => string.Concat(parts),
        _ => value.ToString() ?? "",
    };
}
