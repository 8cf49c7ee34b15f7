using Vla.Data;
using System.Globalization;
using System.Net;
using Vla.Evaluation;

namespace Vla.Kernel.Rendering;

/// <summary>Small pieces shared by the renderers: escaping, numbers, and images inlined as data URIs.</summary>
internal static class Html
{
    public static string Encode(string? text) => WebUtility.HtmlEncode(text ?? "");

    public static string Number(double v) => double.IsFinite(v) ? v.ToString("G4", CultureInfo.InvariantCulture) : "–";

    public static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The image's MIME type from its first bytes (the data accepts PNG and JPEG only).</summary>
    public static string Mime(byte[] bytes) =>
        bytes.Length > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 ? "image/jpeg" : "image/png";

    /// <summary>A data URI holding the encoded image, so the page needs no file next to it.</summary>
    public static string DataUri(byte[] bytes) => $"data:{Mime(bytes)};base64,{Convert.ToBase64String(bytes)}";

    /// <summary>An <c>img</c> element drawn at <paramref name="width"/> CSS pixels, kept sharp when small images are enlarged.</summary>
    public static string Img(byte[] bytes, int width, string alt) =>
        $"<img src=\"{DataUri(bytes)}\" width=\"{width}\" alt=\"{Encode(alt)}\" style=\"image-rendering:pixelated;display:block\"/>";

    /// <summary>
    /// The curve of one dimension, the <paramref name="slot"/>-th in its chart: palette colours in turn,
    /// dashed once the palette is used up, so every curve of a chart stays distinguishable.
    /// </summary>
    public static SvgChart.Series DimensionSeries(int dim, int slot, IReadOnlyList<double> values, IReadOnlyList<string>? names = null) =>
        new(names is null ? $"{dim}" : $"{dim} {DimensionNames.Of(names, dim)}", values, SvgChart.Palette[slot % SvgChart.Palette.Length], Dashed: slot >= SvgChart.Palette.Length);

    /// <summary>Scoped styles every renderer's root element uses (class <c>vla</c>).</summary>
    public const string Style =
        "<style>.vla{font-family:sans-serif;font-size:13px;color:#222}.vla h3{font-size:15px;margin:6px 0}" +
        ".vla table{border-collapse:collapse}.vla td,.vla th{border:1px solid #ddd;padding:2px 8px;text-align:right}" +
        ".vla th{background:#f5f5f5}.vla .note{color:#666;font-size:12px}.vla .row{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start}" +
        ".vla .frame{text-align:center;font-size:11px;color:#555}</style>";
}
