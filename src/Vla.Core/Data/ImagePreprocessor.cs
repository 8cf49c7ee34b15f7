using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using Vla.Config;

namespace Vla.Data;

/// <summary>
/// Turns encoded camera images into the vision tower's input, as Hugging Face's SigLIP image processor
/// does: decode, bicubic resize to a square of <c>size</c>, scale to [-1, 1] (mean 0.5, std 0.5), channels first.
/// Only PNG and JPEG are decoded, and only below a pixel-count limit.
/// </summary>
public static class ImagePreprocessor
{
    /// <summary>An ImageSharp configuration that knows PNG and JPEG and nothing else.</summary>
    private static readonly Configuration Formats = new(new PngConfigurationModule(), new JpegConfigurationModule());

    /// <summary>Why <paramref name="bytes"/> cannot be used as an image (format, size, a cut-off file), or null when it can; decodes nothing.</summary>
    public static string? CheckHeader(byte[] bytes, long maxPixels)
    {
        if (EncodedImage.FindTruncation(bytes) is string cut) return cut;
        IImageInfo? info;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            info = Image.Identify(Formats, stream);
        }
        catch (Exception e) when (e is ImageFormatException or InvalidImageContentException or NotSupportedException)
        {
            return $"the image cannot be read ({e.Message.TrimEnd('.')}).";
        }
        if (info is null) return "the bytes are not a PNG or JPEG image.";
        long pixels = (long)info.Width * info.Height;
        return pixels > maxPixels
            ? $"the image is {info.Width}×{info.Height} = {pixels} pixels, above the limit of {maxPixels} (data.max_image_pixels)."
            : null;
    }

    /// <summary>
    /// Decodes, resizes as <paramref name="fit"/> says and writes one image into <paramref name="chw"/> (length 3·size·size,
    /// layout C,H,W). Throws <see cref="InvalidDataException"/> with the reason when the image is unusable.
    /// </summary>
    public static void Preprocess(byte[] bytes, int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch)
    {
        if (chw.Length != 3 * size * size)
            throw new ArgumentException($"Destination holds {chw.Length} floats, expected {3 * size * size}.", nameof(chw));
        using var image = Decode(bytes, maxPixels);
        Write(image, size, fit, chw);
    }

    /// <summary>Writes <paramref name="image"/> into <paramref name="chw"/> as a square of <paramref name="size"/>, resized as <paramref name="fit"/> says (the image may be resized in place).</summary>
    public static void Write(Image<Rgb24> image, int size, ImageFit fit, Span<float> chw)
    {
        if (fit == ImageFit.Pad && (image.Width != size || image.Height != size))
        {
            var pixels = new Rgb24[image.Width * image.Height];
            image.CopyPixelDataTo(pixels);
            WritePadded(pixels, image.Width, image.Height, size, chw);
            return;
        }
        Resize(image, size);
        WriteChw(image, chw);
    }

    /// <summary>
    /// <see cref="ImageFit.Pad"/>, as <c>resize_with_pad_torch</c> computes it on values / 255: one ratio
    /// <c>max(w / size, h / size)</c>, the scaled sides truncated, torch's bilinear interpolation (align_corners false, no
    /// antialiasing: source <c>(dst + 0.5) · in / out − 0.5</c>, clamped at 0), clamped to [0, 1], centred with the odd pixel of
    /// margin at the bottom and right, the margins 0; then scaled to [-1, 1] like every frame.
    /// </summary>
    public static void WritePadded(ReadOnlySpan<Rgb24> pixels, int width, int height, int size, Span<float> chw)
    {
        if (chw.Length != 3 * size * size) throw new ArgumentException($"Destination holds {chw.Length} floats, expected {3 * size * size}.", nameof(chw));
        double ratio = Math.Max((double)width / size, (double)height / size);
        int rh = Math.Max(1, (int)(height / ratio)), rw = Math.Max(1, (int)(width / ratio));
        int top = (size - rh) / 2, left = (size - rw) / 2, plane = size * size;
        chw.Fill(-1f);
        var (ys, xs) = (Taps(height, rh), Taps(width, rw));
        for (int y = 0; y < rh; y++)
        {
            var (y0, y1, wy0, wy1) = ys[y];
            for (int x = 0; x < rw; x++)
            {
                var (x0, x1, wx0, wx1) = xs[x];
                var (a, b, c, d) = (pixels[y0 * width + x0], pixels[y0 * width + x1], pixels[y1 * width + x0], pixels[y1 * width + x1]);
                float Mix(byte p00, byte p01, byte p10, byte p11) =>
                    Math.Clamp(wy0 * (wx0 * (p00 / 255f) + wx1 * (p01 / 255f)) + wy1 * (wx0 * (p10 / 255f) + wx1 * (p11 / 255f)), 0f, 1f) * 2f - 1f;
                int at = (top + y) * size + left + x;
                chw[at] = Mix(a.R, b.R, c.R, d.R);
                chw[plane + at] = Mix(a.G, b.G, c.G, d.G);
                chw[2 * plane + at] = Mix(a.B, b.B, c.B, d.B);
            }
        }
    }

    /// <summary>For each of <paramref name="output"/> positions, torch's two source indices and weights along one axis of <paramref name="input"/>.</summary>
    private static (int I0, int I1, float W0, float W1)[] Taps(int input, int output)
    {
        float scale = (float)input / output;
        var taps = new (int, int, float, float)[output];
        for (int i = 0; i < output; i++)
        {
            float source = Math.Max(scale * (i + 0.5f) - 0.5f, 0f);
            int i0 = Math.Min((int)MathF.Floor(source), input - 1);
            float w1 = Math.Clamp(source - i0, 0f, 1f);
            taps[i] = (i0, i0 + (i0 < input - 1 ? 1 : 0), 1f - w1, w1);
        }
        return taps;
    }

    /// <summary>
    /// Why <paramref name="bytes"/> cannot be used, decoding it fully (<c>vla inspect</c>): <see cref="CheckHeader"/>'s
    /// checks and whatever the decoder itself rejects.
    /// </summary>
    public static string? CheckFully(byte[] bytes, long maxPixels)
    {
        try
        {
            using var image = Decode(bytes, maxPixels);
            return null;
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
    }

    /// <summary>Decodes PNG or JPEG bytes to RGB after checking the header and that the file is whole.</summary>
    public static Image<Rgb24> Decode(byte[] bytes, long maxPixels)
    {
        if (CheckHeader(bytes, maxPixels) is string why) throw new InvalidDataException(why);
        try
        {
            return Image.Load<Rgb24>(Formats, bytes);
        }
        catch (Exception e) when (e is ImageFormatException or InvalidImageContentException or UnknownImageFormatException)
        {
            throw new InvalidDataException($"the image cannot be decoded ({e.Message.TrimEnd('.')}).", e);
        }
    }

    /// <summary>Bicubic resize to <paramref name="size"/>×<paramref name="size"/>, ignoring aspect ratio as SigLIP's processor does.</summary>
    public static void Resize(Image<Rgb24> image, int size)
    {
        if (image.Width == size && image.Height == size) return;
        image.Mutate(x => x.Resize(new ResizeOptions
        {
            Size = new Size(size, size),
            Sampler = KnownResamplers.Bicubic,
            Mode = ResizeMode.Stretch,
        }));
    }

    /// <summary>Writes pixels as (value / 255 − 0.5) / 0.5 in channel-first order.</summary>
    public static void WriteChw(Image<Rgb24> image, Span<float> chw)
    {
        if (image.DangerousTryGetSinglePixelMemory(out var memory))
        {
            WriteChw(memory.Span, chw);
            return;
        }
        var copy = new Rgb24[image.Width * image.Height];
        image.CopyPixelDataTo(copy);
        WriteChw(copy, chw);
    }

    /// <summary>Writes RGB pixels (row after row, as an image or a decoded video frame holds them) as (value / 255 − 0.5) / 0.5 in channel-first order.</summary>
    public static void WriteChw(ReadOnlySpan<Rgb24> pixels, Span<float> chw)
    {
        int plane = pixels.Length;
        if (chw.Length != 3 * plane) throw new ArgumentException($"Destination holds {chw.Length} floats, expected {3 * plane}.", nameof(chw));
        var r = chw[..plane];
        var g = chw.Slice(plane, plane);
        var b = chw.Slice(2 * plane, plane);
        const float scale = 2f / 255f;
        for (int i = 0; i < plane; i++)
        {
            var p = pixels[i];
            r[i] = p.R * scale - 1f;
            g[i] = p.G * scale - 1f;
            b[i] = p.B * scale - 1f;
        }
    }
}
