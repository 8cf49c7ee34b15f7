using Vla.Model;

namespace Vla.Data.Loading;

/// <summary>
/// The shape of every batch: cameras, image size, state and action layout. A window's images are its current frame of
/// each camera: the policy conditions on the current frame, so no older frame is decoded.
/// </summary>
/// <param name="Cameras">1, or 2 with the wrist camera.</param>
/// <param name="ImageSize">Square image side after resizing.</param>
/// <param name="StateDim">State vector length.</param>
/// <param name="Horizon">Action steps per chunk.</param>
/// <param name="PerActionDim">Values per action step.</param>
public sealed record BatchLayout(int Cameras, int ImageSize, int StateDim, int Horizon, int PerActionDim)
{
    /// <summary>How frames of other shapes are made square.</summary>
    public Config.ImageFit Fit { get; init; }

    /// <summary>Floats in one image (3 × size × size).</summary>
    public int ImageFloats => 3 * ImageSize * ImageSize;

    /// <summary>The layout of the batches <paramref name="spec"/>'s policy reads and predicts.</summary>
    public static BatchLayout Of(PolicySpec spec) => new(spec.Cameras, spec.ImageSize, spec.StateDim, spec.Horizon, spec.ActionDim) { Fit = spec.ImageFit };
}
