using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;

namespace Vla.Notebooks;

/// <summary>Turns a cell's kernel events into notebook outputs, as a notebook editor would store them.</summary>
internal static class CellOutputs
{
    /// <summary>Appends the outputs of <paramref name="events"/> to <paramref name="cell"/>; returns the cell's error, or null.</summary>
    public static string? Collect(IReadOnlyList<KernelEvent> events, InteractiveDocumentElement cell)
    {
        var byDisplayId = new Dictionary<string, int>();
        string? error = null;
        foreach (var e in events)
        {
            switch (e)
            {
                case DisplayedValueUpdated update when update.ValueId is not null && byDisplayId.TryGetValue(update.ValueId, out int index):
                    cell.Outputs[index] = new DisplayElement(Data(update.FormattedValues));
                    break;
                case ReturnValueProduced value:
                    var returned = new ReturnValueElement { ExecutionOrder = cell.ExecutionOrder };
                    foreach (var (mime, text) in Data(value.FormattedValues)) returned.Data[mime] = text;
                    cell.Outputs.Add(returned);
                    break;
                case StandardOutputValueProduced stdout:
                    AppendText(cell, "stdout", Text(stdout.FormattedValues));
                    break;
                case StandardErrorValueProduced stderr:
                    AppendText(cell, "stderr", Text(stderr.FormattedValues));
                    break;
                case ErrorProduced produced:
                    AppendText(cell, "stderr", produced.Message + "\n");
                    break;
                case DisplayEvent display when display is DisplayedValueProduced or DisplayedValueUpdated:
                    if (display.ValueId is not null) byDisplayId[display.ValueId] = cell.Outputs.Count;
                    cell.Outputs.Add(new DisplayElement(Data(display.FormattedValues)));
                    break;
                case CommandFailed failed:
                    error = FirstLine(failed.Message);
                    cell.Outputs.Add(new ErrorElement("Error", failed.Message, []));
                    break;
            }
        }
        return error;
    }

    private static Dictionary<string, object> Data(IEnumerable<FormattedValue> values) =>
        values.Where(v => !v.SuppressDisplay).GroupBy(v => v.MimeType).ToDictionary(g => g.Key, g => (object)g.First().Value);

    private static string Text(IEnumerable<FormattedValue> values) =>
        string.Concat(values.Where(v => v.MimeType == PlainTextFormatter.MimeType).Select(v => v.Value));

    private static void AppendText(InteractiveDocumentElement cell, string stream, string text)
    {
        if (cell.Outputs.Count > 0 && cell.Outputs[^1] is TextElement last && last.Name == stream)
            cell.Outputs[^1] = new TextElement(last.Text + text, stream);
        else
            cell.Outputs.Add(new TextElement(text, stream));
    }

    private static string FirstLine(string message)
    {
        string trimmed = message.Trim();
        int newline = trimmed.IndexOf('\n');
        return newline < 0 ? trimmed : trimmed[..newline].TrimEnd();
    }
}
