using System.Runtime.InteropServices;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Config;
using Vla.Data;
using Vla.Inference;

namespace Vla.Tests.Data;

/// <summary>pi0's image fit: LeRobot's and openpi's <c>resize_with_pad_torch</c>, against values PyTorch computed.</summary>
public sealed class ImageFitTests
{
    /// <summary>A 10 × 7 RGB image (row-major HWC bytes, torch.manual_seed(0)).</summary>
    private static readonly byte[] Pixels =
    [
        172, 47, 117, 192, 67, 251, 195, 103, 9, 211, 21, 242, 36, 87, 70, 216, 88, 140, 58, 193, 230, 39, 87, 174, 88, 81, 165, 25, 77, 72, 9, 148, 115, 208,
        243, 197, 254, 79, 175, 192, 82, 99, 216, 177, 243, 29, 147, 147, 142, 167, 32, 193, 9, 185, 127, 32, 31, 202, 244, 151, 163, 254, 203, 114, 183, 28,
        34, 128, 128, 164, 53, 133, 38, 232, 244, 17, 79, 132, 105, 42, 186, 31, 120, 1, 65, 231, 169, 57, 35, 102, 119, 11, 174, 82, 91, 128, 142, 99, 53,
        140, 121, 170, 84, 203, 68, 6, 196, 47, 127, 244, 131, 204, 100, 180, 232, 78, 143, 148, 227, 186, 23, 207, 141, 117, 85, 48, 49, 69, 169, 163, 192,
        95, 197, 94, 0, 113, 178, 36, 162, 48, 93, 131, 98, 42, 205, 112, 231, 149, 201, 127, 0, 138, 114, 43, 186, 127, 23, 187, 130, 121, 98, 62, 163, 222,
        123, 195, 82, 174, 227, 148, 209, 50, 155, 14, 41, 58, 193, 36, 10, 86, 43, 104, 11, 2, 51, 80, 32, 182, 128, 38, 19, 174, 42, 115, 184, 188, 232,
        77, 30, 24, 125, 2, 3, 94, 226, 107, 13, 112, 40, 72,
    ];

    /// <summary>
    /// <c>resize_with_pad_torch(img / 255, 4, 4) * 2 - 1</c> in PyTorch 1.13, channels first: scaled by 2.5 to 4 × 2, bilinear
    /// (align_corners false), a row of −1 above and below.
    /// </summary>
    private static readonly float[] Expected =
    [
        -1, -1, -1, -1, 0.178431392f, 0.424509883f, -0.168137193f, -0.0191176534f, -0.626960754f, 0.109803915f, 0.581862807f, -0.391666651f, -1, -1, -1, -1,
        -1, -1, -1, -1, 0.683333397f, -0.186274469f, 0.0534313917f, -0.143137217f, 0.25f, 0.0872548819f, -0.0686274171f, -0.46617645f, -1, -1, -1, -1,
        -1, -1, -1, -1, 0.17892158f, 0.109313726f, -0.304411709f, -0.342647016f, -0.132352948f, -0.405882359f, 0.332352996f, 0.379902005f, -1, -1, -1, -1,
    ];

    [Fact]
    public void Padding_resizes_as_LeRobots_resize_with_pad_torch()
    {
        var chw = new float[3 * 16];
        ImagePreprocessor.WritePadded(MemoryMarshal.Cast<byte, Rgb24>(Pixels.AsSpan()), width: 10, height: 7, size: 4, chw);
        for (int i = 0; i < chw.Length; i++) Assert.True(Math.Abs(Expected[i] - chw[i]) <= 1e-6, $"value {i}: {chw[i]}, PyTorch {Expected[i]}");
    }

    [Fact]
    public void Raw_and_encoded_frames_pad_alike_and_a_square_of_the_right_size_is_left_as_it_is()
    {
        var raw = new float[3 * 16];
        new RgbFrame(Pixels, Height: 7, Width: 10).Preprocess(4, 1000, raw, ImageFit.Pad);
        using var image = SixLabors.ImageSharp.Image.LoadPixelData<Rgb24>(Pixels, 10, 7);
        using var png = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, png);
        var encoded = new float[3 * 16];
        new EncodedFrame(png.ToArray()).Preprocess(4, 1000, encoded, ImageFit.Pad);
        Assert.Equal(raw, encoded);
        for (int i = 0; i < raw.Length; i++) Assert.True(Math.Abs(Expected[i] - raw[i]) <= 1e-6, $"value {i}");

        var stretched = new float[3 * 16];
        new RgbFrame(Pixels, Height: 7, Width: 10).Preprocess(4, 1000, stretched);
        Assert.NotEqual(raw, stretched);                                                    // the default stays SigLIP's stretch
        var square = new float[3 * 49];
        var padded = new float[3 * 49];
        new RgbFrame(Pixels[..(7 * 7 * 3)], Height: 7, Width: 7).Preprocess(7, 1000, square);
        new RgbFrame(Pixels[..(7 * 7 * 3)], Height: 7, Width: 7).Preprocess(7, 1000, padded, ImageFit.Pad);
        Assert.Equal(square, padded);
    }
}
