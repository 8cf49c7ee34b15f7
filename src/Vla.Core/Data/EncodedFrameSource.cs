using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Config;

namespace Vla.Data;

/// <summary>Frames stored as PNG/JPEG bytes in the Parquet rows (the seed schema, LeRobot <c>image</c> features), read through an <see cref="ImageStore"/>.</summary>
public sealed class EncodedFrameSource(ImageStore images, IReadOnlyList<string> cameras) : IFrameSource
{
    /// <summary>The store the bytes come from.</summary>
    public ImageStore Images { get; } = images;

    /// <inheritdoc/>
    public IReadOnlyList<string> Cameras { get; } = cameras;

    /// <inheritdoc/>
    public DataProblem? Preprocess(Episode episode, int step, int camera, int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch)
    {
        var record = episode.Steps[step];
        var bytes = Images.Get(record, camera);
        string file = Images.FileOf(record);
        if (bytes is null) return new DataProblem(file, record.Row, Cameras[camera - 1], "the image is missing.");
        try
        {
            ImagePreprocessor.Preprocess(bytes, size, maxPixels, chw, fit);
            return null;
        }
        catch (InvalidDataException e)
        {
            return new DataProblem(file, record.Row, Cameras[camera - 1], e.Message);
        }
    }

    /// <inheritdoc/>
    public Image<Rgb24>? Load(Episode episode, int step, int camera, long maxPixels) =>
        Images.Get(episode.Steps[step], camera) is { Length: > 0 } bytes ? ImagePreprocessor.Decode(bytes, maxPixels) : null;
}
