using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Config;

namespace Vla.Data;

/// <summary>
/// Where a dataset's camera frames come from: encoded images in the Parquet rows (<see cref="EncodedFrameSource"/>) or
/// a LeRobot dataset's video (<see cref="LeRobot.VideoFrameSource"/>). Cameras are numbered from 1 (the main camera).
/// Safe to use from the loader's worker threads.
/// </summary>
public interface IFrameSource
{
    /// <summary>The cameras' names in order (column names or LeRobot feature keys), for messages and reports.</summary>
    IReadOnlyList<string> Cameras { get; }

    /// <summary>
    /// Writes the frame of <paramref name="step"/> of <paramref name="episode"/> from <paramref name="camera"/> into
    /// <paramref name="chw"/> as the vision tower's input (3 × size × size, [-1, 1]); returns the problem instead when the
    /// frame is missing or broken. Whole-file faults (a missing video, an unusable codec) throw <see cref="Runtime.BadInputException"/>.
    /// Frames of another shape are made square as <paramref name="fit"/> says.
    /// </summary>
    DataProblem? Preprocess(Episode episode, int step, int camera, int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch);

    /// <summary>The frame as RGB pixels (for viewers), or null when the row has none; throws <see cref="InvalidDataException"/> when it is broken.</summary>
    Image<Rgb24>? Load(Episode episode, int step, int camera, long maxPixels);
}
