using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Data;
using Vla.Data.Seed;

namespace Vla.Tests;

/// <summary>Temporary folders and small Parquet fixtures for tests.</summary>
internal sealed class TestFiles : IDisposable
{
    private readonly TempFolder _folder = new();

    public string Root => _folder.Root;

    public string PathOf(string name) => _folder.PathOf(name);

    /// <summary>The repository root (the folder holding Vla.sln).</summary>
    public static string RepoRoot => RepoPaths.Root;

    public static byte[] Png(int width, int height, Rgb24 color)
    {
        using var image = new Image<Rgb24>(width, height, color);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    public static byte[] Jpeg(int width, int height, Rgb24 color)
    {
        using var image = new Image<Rgb24>(width, height, color);
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream);
        return stream.ToArray();
    }

    /// <summary>A camera-like JPEG (gradients and noise, so its compressed data is long), as a real robot frame is.</summary>
    public static byte[] CameraJpeg(int width = 320, int height = 240, int seed = 1)
    {
        var random = new Random(seed);
        using var image = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)(x + random.Next(24)), (byte)(y + random.Next(24)), (byte)((x ^ y) & 0xFF));
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream);
        return stream.ToArray();
    }

    /// <summary>
    /// An episode whose step t has state [t, 10 + t, …] and action [100 + t, …] (dims as given), and
    /// an image whose red channel is 10·t, so tests can tell steps apart in every field.
    /// </summary>
    public static List<StepRow> Episode(int length, string prompt = "pick up the red cube", int stateDim = 3, int actionDim = 2, int offset = 0)
    {
        return Enumerable.Range(0, length).Select(t => new StepRow(
            Png(8, 8, new Rgb24((byte)(10 * t), 0, 0)),
            Png(8, 8, new Rgb24(0, (byte)(10 * t), 0)),
            Enumerable.Range(0, stateDim).Select(d => (float)(offset + t + 10 * d)).ToArray(),
            Enumerable.Range(0, actionDim).Select(d => (float)(offset + 100 + t + 10 * d)).ToArray(),
            t == 0, t == length - 1, t == length - 1, prompt)).ToList();
    }

    public string Write(string name, IEnumerable<IReadOnlyList<StepRow>> episodes, params string[] omit)
    {
        string path = PathOf(name);
        SeedEpisodeWriter.WriteAsync(path, episodes, omit.ToHashSet()).GetAwaiter().GetResult();
        return path;
    }

    public void Dispose() => _folder.Dispose();
}
