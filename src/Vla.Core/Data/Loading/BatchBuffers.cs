using Vla.Model;
using Vla.Model.Tokenization;

namespace Vla.Data.Loading;

/// <summary>
/// A batch in plain arrays, as the decoding workers build it; <see cref="VlaBatch.FromBuffers"/> turns it
/// into tensors on the consuming thread.
/// </summary>
public sealed class BatchBuffers
{
    /// <summary>Allocates buffers for <paramref name="size"/> windows; <paramref name="images"/> is reused for the images when it has their size.</summary>
    public BatchBuffers(BatchLayout layout, int size, float[]? images = null)
    {
        Layout = layout;
        Size = size;
        long imageFloats = (long)size * layout.Cameras * layout.ImageFloats;
        Images = images?.LongLength == imageFloats ? images : new float[imageFloats];
        State = new float[size * layout.StateDim];
        Actions = new float[size * layout.Horizon * layout.PerActionDim];
        ActionMask = new bool[size * layout.Horizon];
        Prompts = new string[size];
        Windows = new Window[size];
    }

    /// <summary>The layout.</summary>
    public BatchLayout Layout { get; }
    /// <summary>Windows in the batch.</summary>
    public int Size { get; }
    /// <summary>(B, cameras, 3, H, W) in [-1, 1]: each window's current frame.</summary>
    public float[] Images { get; }
    /// <summary>(B, state_dim), normalized, at the window's current step.</summary>
    public float[] State { get; }
    /// <summary>(B, horizon, per_action_dim), normalized; zero past the episode end.</summary>
    public float[] Actions { get; }
    /// <summary>(B, horizon): false for chunk steps past the episode end.</summary>
    public bool[] ActionMask { get; }
    /// <summary>The instruction of each window.</summary>
    public string[] Prompts { get; }
    /// <summary>The instructions' token ids and padding mask (B, L), made by the policy's transform.</summary>
    public TokenBatch? Tokens { get; set; }
    /// <summary>(B, cameras): false for a camera an observation lacks, or null when all are there (the predictor sets it).</summary>
    public bool[]? ImageMask { get; set; }
    /// <summary>Where each window comes from.</summary>
    public Window[] Windows { get; }

    /// <summary>The policy's part of the batch, wrapping these arrays (tokens empty until <see cref="Tokens"/> is set).</summary>
    public PolicyArrays PolicyArrays => new(Size, Layout.Cameras, Layout.ImageSize, Layout.StateDim, Images, State, Tokens ?? new TokenBatch([], [], Size, 0, 0))
    {
        ImageMask = ImageMask,
    };
}
