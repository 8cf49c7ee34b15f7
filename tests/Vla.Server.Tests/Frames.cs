using Vla.Client;
using Vla.Data;

namespace Vla.Tests.Server;

/// <summary>Observations as clients send them: uint8 frames, the sample's own PNG, and our layout's map.</summary>
internal static class Frames
{
    /// <summary>A state of the sample's 7 values.</summary>
    public static readonly float[] State = [0.1f, 0.2f, 0.15f, 0, 0, 0, 1];

    /// <summary>Random uint8 pixels, (height, width, 3).</summary>
    public static NdArray Hwc(int height, int width, int seed = 1)
    {
        var pixels = new byte[height * width * 3];
        new Random(seed).NextBytes(pixels);
        return NdArray.FromBytes(pixels, height, width, 3);
    }

    /// <summary>The same bytes laid out (3, height, width), as ALOHA's clients send them (not the same image).</summary>
    public static NdArray Chw(int height, int width) => NdArray.FromBytes(Hwc(height, width).Data, 3, height, width);

    /// <summary>An observation in our layout (<c>image_1</c>, <c>image_2</c>, <c>state</c>, <c>prompt</c>).</summary>
    public static Dictionary<string, object?> Ours() => new()
    {
        ["image_1"] = Hwc(64, 64), ["image_2"] = Hwc(48, 80, seed: 2), ["state"] = NdArray.FromFloats(State), ["prompt"] = "pick up the red cube",
    };

    /// <summary>The first main-camera frame of the sample's validation split, as its PNG.</summary>
    public static byte[] SamplePng()
    {
        var dataset = EpisodeDataset.OpenAsync([Path.Combine(RepoPaths.Root, "data-samples", "val")], new DataOptions { VerifyImages = false }).GetAwaiter().GetResult();
        return dataset.Images.Get(dataset.Episodes[0].Steps[0], 1)!;
    }
}
