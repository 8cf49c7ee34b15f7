using Vla.Data;
using Vla.Runtime;

namespace Vla.Inference;

/// <summary>
/// What the policy sees at one moment: one or several frames per camera (oldest first; the policy
/// conditions on the newest), the instruction and the robot state in the data's own units. Frames are encoded
/// images or raw pixels (<see cref="CameraFrame"/>).
/// </summary>
/// <param name="Camera1">Frames of the main camera, oldest first.</param>
/// <param name="Camera2">Frames of the wrist camera (needed when the model uses it), or null.</param>
/// <param name="Prompt">The instruction.</param>
/// <param name="State">The robot state, or null for a model trained without state input.</param>
public sealed record RobotObservation(IReadOnlyList<CameraFrame> Camera1, IReadOnlyList<CameraFrame>? Camera2, string Prompt, float[]? State)
{
    /// <summary>Frames of cameras 3, 4, … for policies that read more than two (released pi0 reads three), oldest first.</summary>
    public IReadOnlyList<IReadOnlyList<CameraFrame>> MoreCameras { get; init; } = [];

    /// <summary>The frames of camera <paramref name="index"/> (0 is the main camera), or null when the observation has none.</summary>
    public IReadOnlyList<CameraFrame>? Camera(int index) => index switch
    {
        0 => Camera1,
        1 => Camera2,
        _ => index - 2 < MoreCameras.Count ? MoreCameras[index - 2] : null,
    };

    /// <summary>Reads the image files of every camera in order (the main camera first), naming any that is missing or not a usable PNG/JPEG.</summary>
    public static RobotObservation FromFiles(IReadOnlyList<IReadOnlyList<string>> cameras, string prompt, float[]? state, long maxPixels = 4096L * 4096)
    {
        if (cameras.Count == 0 || cameras[0].Count == 0) throw new BadInputException("At least one main-camera image (camera 1) is needed.");
        return new RobotObservation(ReadFrames(cameras[0], maxPixels), cameras.Count > 1 ? ReadFrames(cameras[1], maxPixels) : null, prompt, state)
        {
            MoreCameras = cameras.Skip(2).Select(c => ReadFrames(c, maxPixels)).ToList(),
        };
    }

    /// <summary>Reads image files, naming any that is missing or not a usable PNG/JPEG.</summary>
    public static RobotObservation FromFiles(IReadOnlyList<string> camera1, IReadOnlyList<string>? camera2, string prompt, float[]? state, long maxPixels = 4096L * 4096) =>
        FromFiles(camera2 is null ? [camera1] : [camera1, camera2], prompt, state, maxPixels);

    private static IReadOnlyList<CameraFrame> ReadFrames(IReadOnlyList<string> paths, long maxPixels) => paths.Select(path =>
    {
        if (!File.Exists(path)) throw new BadInputException($"Image {path} does not exist.");
        var bytes = File.ReadAllBytes(path);
        if (ImagePreprocessor.CheckHeader(bytes, maxPixels) is string why) throw new BadInputException($"Image {path}: {why}");
        return (CameraFrame)bytes;
    }).ToList();
}
