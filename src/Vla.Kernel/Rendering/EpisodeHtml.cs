using System.Text;
using Vla.Data;
using Vla.Evaluation;

namespace Vla.Kernel.Rendering;

/// <summary>
/// An episode as one HTML block: its prompt, a strip of frames from both cameras with step numbers, and
/// the state and action of every dimension over time.
/// </summary>
public static class EpisodeHtml
{
    /// <summary>Most dimensions drawn in one chart before the rest move to another.</summary>
    private const int DimsPerChart = 7;

    /// <summary>Renders <paramref name="episode"/>, reading its frames from <paramref name="images"/> (or from its file when null).</summary>
    public static string Render(Episode episode, ImageStore? images = null, int maxFrames = 8, int frameWidth = 96) =>
        Render(episode, new EncodedFrameSource(images ?? ImageStore.ForEpisode(episode), ["image_1", "image_2"]), null, null, maxFrames, frameWidth);

    /// <summary>Renders episode <paramref name="index"/> of <paramref name="dataset"/> (its frames, video included, and its dimensions' names).</summary>
    public static string Render(EpisodeDataset dataset, int index, int maxFrames = 8, int frameWidth = 96) =>
        Render(dataset.Episodes[index], dataset.Frames, dataset.StateNames, dataset.ActionNames, maxFrames, frameWidth);

    private static string Render(Episode episode, IFrameSource frameSource, IReadOnlyList<string>? stateNames, IReadOnlyList<string>? actionNames,
        int maxFrames, int frameWidth)
    {
        var html = new StringBuilder("<div class=\"vla\">").Append(Html.Style);
        html.Append($"<h3>Episode {episode.Id}: “{Html.Encode(episode.Prompt)}”</h3>")
            .Append($"<p class=\"note\">{episode.Length} steps · {Html.Encode(Path.GetFileName(episode.File))}, rows {episode.FirstRow}–{episode.FirstRow + episode.Length - 1}</p>");

        var shown = FrameSteps(episode.Length, maxFrames);
        for (int camera = 1; camera <= frameSource.Cameras.Count; camera++)
        {
            var frames = shown.Select(i => (Step: i, Bytes: Frame(frameSource, episode, i, camera))).ToList();
            if (frames.All(f => f.Bytes is null)) continue;
            html.Append($"<div class=\"note\">camera {camera}{(camera == 1 ? " (main)" : " (wrist / auxiliary)")}: {Html.Encode(frameSource.Cameras[camera - 1])}</div><div class=\"row\">");
            foreach (var (step, bytes) in frames)
            {
                html.Append("<div class=\"frame\">")
                    .Append(bytes is null ? $"<div style=\"width:{frameWidth}px;height:{frameWidth}px;background:#eee\"></div>" : Html.Img(bytes, frameWidth, $"camera {camera}, step {step}"))
                    .Append($"step {step}</div>");
            }
            html.Append("</div>");
        }

        html.Append("<div class=\"row\">");
        AppendCurves(html, "state", episode.Steps.Select(s => s.State).ToList(), stateNames);
        if (episode.Steps[0].Action.Length > 0) AppendCurves(html, "action", episode.Steps.Select(s => s.Action).ToList(), actionNames);
        return html.Append("</div></div>").ToString();
    }

    /// <summary>A frame as image bytes for an <c>img</c> tag: the stored PNG/JPEG, or decoded video encoded as PNG; null when there is none.</summary>
    private static byte[]? Frame(IFrameSource frames, Episode episode, int step, int camera)
    {
        try
        {
            if (frames is EncodedFrameSource encoded) return encoded.Images.Get(episode.Steps[step], camera);
            using var image = frames.Load(episode, step, camera, long.MaxValue);
            if (image is null) return null;
            using var png = new MemoryStream();
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, png);
            return png.ToArray();
        }
        catch (Exception e) when (e is Runtime.BadInputException or InvalidDataException)
        {
            return null; // an episode without readable frames is still drawn: its curves
        }
    }

    /// <summary>Up to <paramref name="max"/> step indices spread evenly from the first step to the last.</summary>
    internal static IReadOnlyList<int> FrameSteps(int length, int max)
    {
        if (length <= max) return Enumerable.Range(0, length).ToList();
        if (max <= 1) return max == 1 ? [0] : [];
        return Enumerable.Range(0, max).Select(i => (int)Math.Round(i * (length - 1) / (double)(max - 1))).Distinct().ToList();
    }

    private static void AppendCurves(StringBuilder html, string name, IReadOnlyList<float[]> rows, IReadOnlyList<string>? names)
    {
        int dims = rows[0].Length;
        for (int first = 0; first < dims; first += DimsPerChart)
        {
            int count = Math.Min(DimsPerChart, dims - first);
            var series = Enumerable.Range(first, count)
                .Select(d => Html.DimensionSeries(d, d - first, rows.Select(r => (double)r[d]).ToList(), names))
                .ToList();
            string title = dims <= DimsPerChart ? $"{name} per dimension" : $"{name} dimensions {first}–{first + count - 1}";
            html.Append(SvgChart.Lines(title, "step", name, series));
        }
    }
}
