using System.Text;
using Vla.Evaluation;
using Vla.Training;

namespace Vla.Kernel.Rendering;

/// <summary>A run's curves: training loss per logged step, and per epoch the training and validation figures.</summary>
public static class TrainingHistoryHtml
{
    /// <summary>Renders <paramref name="history"/> as it stands now.</summary>
    public static string Render(TrainingHistory history)
    {
        var steps = history.Steps;
        var epochs = history.Epochs;
        var html = new StringBuilder("<div class=\"vla\">").Append(Html.Style);
        var last = epochs.Count > 0 ? epochs[^1] : null;
        html.Append("<h3>Training</h3><p class=\"note\">")
            .Append(steps.Count == 0 ? "no step yet" : $"step {steps[^1].Step}, epoch {steps[^1].Epoch}, loss {Html.Number(steps[^1].Loss)}")
            .Append(last is null ? "" : $" · epoch {last.Epoch}: train loss {Html.Number(last.TrainLoss)}")
            .Append(last?.Validation is { } v ? $", val loss {Html.Number(v.Loss)}, val action MSE {Html.Number(v.ActionMse)} (mean-chunk baseline {Html.Number(v.BaselineMse)})" : "")
            .Append("</p><div class=\"row\">");
        if (steps.Count > 0)
        {
            long stride = steps.Count > 1 ? Math.Max(1, steps[1].Step - steps[0].Step) : 1;
            html.Append(SvgChart.Lines("training loss", "step", "flow-matching loss",
                [new("loss", steps.Select(s => s.Loss).ToList(), SvgChart.Palette[0])], steps[0].Step, stride));
        }
        if (epochs.Count > 0)
        {
            var series = new List<SvgChart.Series> { new("train loss", epochs.Select(e => e.TrainLoss).ToList(), SvgChart.Palette[0]) };
            if (epochs.Any(e => e.Validation is not null))
            {
                double V(TrainingHistory.EpochSummary e, Func<ValidationMetrics, double> pick) => e.Validation is null ? double.NaN : pick(e.Validation);
                series.Add(new("val loss", epochs.Select(e => V(e, m => m.Loss)).ToList(), SvgChart.Palette[1]));
                series.Add(new("val action MSE", epochs.Select(e => V(e, m => m.ActionMse)).ToList(), SvgChart.Palette[2]));
                series.Add(new("baseline", epochs.Select(e => V(e, m => m.BaselineMse)).ToList(), SvgChart.Palette[3], Dashed: true));
            }
            html.Append(SvgChart.Lines("per epoch", "epoch", "value (normalized space)", series, epochs[0].Epoch));
        }
        return html.Append("</div></div>").ToString();
    }
}
