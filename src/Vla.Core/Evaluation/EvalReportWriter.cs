using Vla.Data;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Vla.Runtime;

namespace Vla.Evaluation;

/// <summary>Writes an evaluation's files: <c>metrics.json</c>, <c>inference_log.txt</c> and a self-contained <c>report.html</c>.</summary>
public static class EvalReportWriter
{
    /// <summary>How the accuracy figure is defined, written into metrics.json.</summary>
    public const string AccuracyDefinition =
        "share of predicted values (chunk steps inside the episode) whose bin equals the truth's when the normalized range [-1, 1] " +
        "is cut into num_action_bins equal bins; values outside [-1, 1] fall in the end bins";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals, // NaN for an empty section
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: keep quotes and × readable
    };

    /// <summary>The metrics.json document.</summary>
    public static string MetricsJson(EvalResult result)
    {
        var root = new Dictionary<string, object>
        {
            ["checkpoint"] = result.Checkpoint,
            ["num_inference_steps"] = result.NumInferenceSteps,
            ["seed"] = result.Seed,
            ["num_action_bins"] = result.NumActionBins,
            ["accuracy_definition"] = AccuracyDefinition,
            ["baseline_definition"] = "mean-chunk predictor: the training data's mean action (normalization stats) at every chunk step",
        };
        foreach (var (key, value) in result.Combined.ToJson()) root[key] = value;
        root["datasets"] = result.Datasets.ToDictionary(d => d.Key, d => (object)d.Value.ToJson());
        return JsonSerializer.Serialize(root, Json);
    }

    /// <summary>Writes metrics.json, inference_log.txt and report.html into <paramref name="outputDir"/>, each complete or not at all.</summary>
    public static void Write(string outputDir, EvalResult result, IEnumerable<string> extraLog)
    {
        Directory.CreateDirectory(outputDir);
        AtomicFile.WriteAllText(Path.Combine(outputDir, "metrics.json"), MetricsJson(result));
        AtomicFile.WriteAllText(Path.Combine(outputDir, "inference_log.txt"), string.Join(Environment.NewLine, result.Log.Concat(extraLog)) + Environment.NewLine);
        AtomicFile.WriteAllText(Path.Combine(outputDir, "report.html"), Html(result));
    }

    private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>The report: summary table, error per horizon step, per dimension, and predicted vs true trajectories (inline SVG, no script).</summary>
    public static string Html(EvalResult result) =>
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>VLA evaluation</title><style>" +
        "body{font-family:sans-serif;margin:24px;color:#222;max-width:1120px}</style></head><body>" + Body(result) + "</body></html>";

    /// <summary>The report as one self-contained HTML fragment (styles scoped to it): what notebooks display.</summary>
    public static string Body(EvalResult result)
    {
        var c = result.Combined;
        var html = new StringBuilder();
        html.Append("<div class=\"vla-eval\"><style>.vla-eval h1{font-size:20px}.vla-eval h2{font-size:16px;margin-top:28px}")
            .Append(".vla-eval table{border-collapse:collapse;font-size:13px}.vla-eval td,.vla-eval th{border:1px solid #ddd;padding:4px 10px;text-align:right}.vla-eval th{background:#f5f5f5}")
            .Append(".vla-eval .charts{display:flex;flex-wrap:wrap;gap:12px}.vla-eval .note{color:#666;font-size:12px}</style>");
        html.Append($"<h1>VLA evaluation</h1><p>Checkpoint <code>{WebUtility.HtmlEncode(result.Checkpoint)}</code>, {c.Windows} windows, ")
            .Append($"{result.NumInferenceSteps} Euler steps, seed {result.Seed}.</p>");
        html.Append("<table><tr><th style=\"text-align:left\">dataset</th><th>windows</th><th>MSE</th><th>baseline MSE</th><th>MAE</th><th>baseline MAE</th><th>MSE (normalized)</th><th>accuracy</th></tr>");
        foreach (var (name, m) in result.Datasets.Append(new KeyValuePair<string, EvalMetrics>("all", c)))
            html.Append($"<tr><td style=\"text-align:left\">{WebUtility.HtmlEncode(name)}</td><td>{m.Windows}</td><td><b>{G(m.Overall.Mse)}</b></td><td>{G(m.Baseline.Mse)}</td>")
                .Append($"<td>{G(m.Overall.Mae)}</td><td>{G(m.Baseline.Mae)}</td><td>{G(m.Normalized.Mse)}</td><td>{G(m.Accuracy)}</td></tr>");
        html.Append("</table><p class=\"note\">MSE and MAE in the data's units; the baseline predicts the training mean action at every step. ")
            .Append($"Accuracy: {WebUtility.HtmlEncode(AccuracyDefinition)} ({result.NumActionBins} bins).</p>");

        html.Append("<h2>Error per horizon step and per action dimension</h2><div class=\"charts\">");
        html.Append(SvgChart.Lines("Error per horizon step", "chunk step", "error (data units)",
        [
            new("MSE", c.PerStep.Select(s => s.Mse).ToList(), SvgChart.Palette[0]),
            new("MAE", c.PerStep.Select(s => s.Mae).ToList(), SvgChart.Palette[1]),
        ]));
        html.Append(SvgChart.Bars("MSE per action dimension", "dimension", "MSE (data units)",
            c.PerDim.Select((_, d) => result.ActionNames is null ? d.ToString(CultureInfo.InvariantCulture) : DimensionNames.Of(result.ActionNames, d)).ToList(),
            [new("MSE", c.PerDim.Select(s => s.Mse).ToList(), SvgChart.Palette[0])]));
        html.Append("</div>");

        foreach (var t in result.Trajectories)
        {
            html.Append($"<h2>Episode {t.Episode}: “{WebUtility.HtmlEncode(t.Prompt)}”</h2><p class=\"note\">{WebUtility.HtmlEncode(t.Dataset)}; ")
                .Append("solid: recorded action; dashed: first step of the chunk predicted at that step.</p><div class=\"charts\">");
            int dims = t.Truth.Count == 0 ? 0 : t.Truth[0].Length;
            for (int d = 0; d < dims; d++)
            {
                html.Append(SvgChart.Lines(result.ActionNames is null ? $"dimension {d}" : $"{d}: {DimensionNames.Of(result.ActionNames, d)}", "step", "action",
                [
                    new("true", t.Truth.Select(v => (double)v[d]).ToList(), SvgChart.Palette[0]),
                    new("predicted", t.Predicted.Select(v => (double)v[d]).ToList(), SvgChart.Palette[1], Dashed: true),
                ]));
            }
            html.Append("</div>");
        }
        return html.Append("</div>").ToString();
    }
}
