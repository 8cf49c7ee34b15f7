using SixLabors.ImageSharp.PixelFormats;
using Vla.Data;

namespace Vla.Tests.Data;

public class ImagePreprocessorTests
{
    [Fact]
    public void A_solid_png_becomes_channel_first_values_in_minus_one_to_one()
    {
        var png = TestFiles.Png(32, 20, new Rgb24(255, 0, 51));
        var chw = new float[3 * 16 * 16];
        ImagePreprocessor.Preprocess(png, 16, 1 << 20, chw);
        Assert.All(chw[..256], v => Assert.Equal(1f, v, 1e-5f));
        Assert.All(chw[256..512], v => Assert.Equal(-1f, v, 1e-5f));
        Assert.All(chw[512..], v => Assert.Equal(51f / 127.5f - 1f, v, 1e-5f));
    }

    [Fact]
    public void Jpeg_is_decoded_too()
    {
        var jpeg = TestFiles.Jpeg(16, 16, new Rgb24(128, 128, 128));
        var chw = new float[3 * 8 * 8];
        ImagePreprocessor.Preprocess(jpeg, 8, 1 << 20, chw);
        Assert.All(chw, v => Assert.InRange(v, -0.05f, 0.05f));
    }

    [Fact]
    public void Resizing_keeps_left_and_right_apart()
    {
        using var image = new SixLabors.ImageSharp.Image<Rgb24>(64, 64);
        for (int y = 0; y < 64; y++) for (int x = 32; x < 64; x++) image[x, y] = new Rgb24(255, 255, 255);
        using var stream = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, stream);
        var chw = new float[3 * 8 * 8];
        ImagePreprocessor.Preprocess(stream.ToArray(), 8, 1 << 20, chw);
        Assert.Equal(-1f, chw[0], 1e-3f);   // top-left is black
        Assert.Equal(1f, chw[7], 1e-3f);    // top-right is white
    }

    [Fact]
    public void Other_formats_are_refused()
    {
        using var image = new SixLabors.ImageSharp.Image<Rgb24>(4, 4);
        using var stream = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsBmp(image, stream);
        Assert.Equal("the bytes are not a PNG or JPEG image.", ImagePreprocessor.CheckHeader(stream.ToArray(), 1 << 20));
    }

    [Fact]
    public void The_pixel_limit_is_checked_from_the_header()
    {
        var png = TestFiles.Png(100, 100, new Rgb24(1, 1, 1));
        Assert.Null(ImagePreprocessor.CheckHeader(png, 10_000));
        Assert.Contains("above the limit of 9999", ImagePreprocessor.CheckHeader(png, 9_999));
    }
}
