using Vla.Config;

namespace Vla.Data;

/// <summary>
/// The shape of every batch: cameras, image size, state and action layout. A window's images are its
/// current frame of each camera: the policy conditions on the current frame (the context is the backbone's
/// prefix over it), so a longer <c>data.max_seq_len</c> history is never decoded (DESIGN: never decode what
/// the model ignores).
/// </summary>
/// <param name="Cameras">1, or 2 with the wrist camera.</param>
/// <param name="ImageSize">Square image side after resizing.</param>
/// <param name="StateDim">State vector length.</param>
/// <param name="Horizon">Action steps per chunk.</param>
/// <param name="PerActionDim">Values per action step.</param>
public sealed record BatchLayout(int Cameras, int ImageSize, int StateDim, int Horizon, int PerActionDim)
{
    /// <summary>Floats in one image (3 × size × size).</summary>
    public int ImageFloats => 3 * ImageSize * ImageSize;

    /// <summary>The layout a run configuration implies.</summary>
    public static BatchLayout From(VlaConfig config) => new(
        config.Model.VlmConfig.UseAuxCamera ? 2 : 1,
        config.Data.ImageSize,
        config.Data.StateDim,
        config.Model.ActionHeadConfig.Horizon,
        config.Model.ActionHeadConfig.PerActionDim);
}
