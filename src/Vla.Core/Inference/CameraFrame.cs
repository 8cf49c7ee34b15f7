using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Config;
using Vla.Data;

namespace Vla.Inference;

/// <summary>
/// One camera frame as the policy receives it: encoded PNG/JPEG bytes (files, the dataset) or raw 8-bit RGB pixels
/// (what robots and openpi's clients send). Either way it is made square as the policy's training data was (<see cref="ImageFit"/>).
/// A <c>byte[]</c> converts to an encoded frame, so <c>new RobotObservation([png], …)</c> reads as before.
/// </summary>
public abstract record CameraFrame
{
    /// <summary>Encoded PNG or JPEG bytes.</summary>
    public static implicit operator CameraFrame(byte[] encoded) => new EncodedFrame(encoded);

    /// <summary>
    /// Writes the frame made square (<paramref name="fit"/>) at <paramref name="size"/>² into <paramref name="chw"/> (3·size² floats
    /// in [−1, 1], channels first); throws <see cref="InvalidDataException"/> with the reason when the frame is unusable.
    /// </summary>
    public abstract void Preprocess(int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch);
}

/// <summary>A PNG or JPEG image.</summary>
/// <param name="Bytes">The encoded file.</param>
public sealed record EncodedFrame(byte[] Bytes) : CameraFrame
{
    /// <inheritdoc/>
    public override void Preprocess(int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch) => ImagePreprocessor.Preprocess(Bytes, size, maxPixels, chw, fit);
}

/// <summary>Raw RGB pixels, 8 bits per channel, row after row (height, width, 3).</summary>
/// <param name="Pixels">height·width·3 bytes, channels last.</param>
/// <param name="Height">Rows.</param>
/// <param name="Width">Columns.</param>
public sealed record RgbFrame(byte[] Pixels, int Height, int Width) : CameraFrame
{
    /// <summary>A frame from channels-first pixels (3, height, width), as ALOHA's clients send them.</summary>
    public static RgbFrame FromChannelsFirst(ReadOnlySpan<byte> chw, int height, int width)
    {
        int plane = height * width;
        if (chw.Length != 3 * plane) throw new ArgumentException($"Expected {3 * plane} bytes for 3×{height}×{width}, got {chw.Length}.", nameof(chw));
        var hwc = new byte[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            var source = chw.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) hwc[3 * i + c] = source[i];
        }
        return new RgbFrame(hwc, height, width);
    }

    /// <inheritdoc/>
    public override void Preprocess(int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch)
    {
        if (Height <= 0 || Width <= 0 || Pixels.Length != 3L * Height * Width)
            throw new InvalidDataException($"a {Height}×{Width} RGB frame needs {3L * Height * Width} bytes, got {Pixels.Length}.");
        if ((long)Height * Width > maxPixels)
            throw new InvalidDataException($"the frame is {Width}×{Height} = {(long)Width * Height} pixels, above the limit of {maxPixels} (data.max_image_pixels).");
        var pixels = MemoryMarshal.Cast<byte, Rgb24>(Pixels.AsSpan());
        if (Height == size && Width == size) ImagePreprocessor.WriteChw(pixels, chw);
        else if (fit == ImageFit.Pad) ImagePreprocessor.WritePadded(pixels, Width, Height, size, chw);
        else
        {
            using var image = Image.LoadPixelData<Rgb24>(pixels, Width, Height);
            ImagePreprocessor.Write(image, size, fit, chw);
        }
    }
}

/// <summary>A frame of a recorded episode, read from its dataset's store or video when the policy needs it (replays).</summary>
/// <param name="Source">The dataset's frames.</param>
/// <param name="Episode">The episode.</param>
/// <param name="Step">The step within the episode.</param>
/// <param name="Camera">The camera, from 1.</param>
public sealed record DatasetFrame(IFrameSource Source, Episode Episode, int Step, int Camera) : CameraFrame
{
    /// <inheritdoc/>
    public override void Preprocess(int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch)
    {
        if (Source.Preprocess(Episode, Step, Camera, size, maxPixels, chw, fit) is { } problem) throw new InvalidDataException(problem.ToString());
    }
}
