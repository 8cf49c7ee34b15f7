using Vla.Config;

namespace Vla.Data;

/// <summary>The shape of every batch: window length, cameras, image size, state and action layout.</summary>
/// <param name="MaxSeqLen">Observations per window.</param>
/// <param name="Cameras">1, or 2 with the wrist camera.</param>
/// <param name="ImageSize">Square image side after resizing.</param>
/// <param name="StateDim">State vector length.</param>
/// <param name="Horizon">Action steps per chunk.</param>
/// <param name="PerActionDim">Values per action step.</param>
public sealed record BatchLayout(int MaxSeqLen, int Cameras, int ImageSize, int StateDim, int Horizon, int PerActionDim)
{
    /// <summary>Floats in one image (3 × size × size).</summary>
    public int ImageFloats => 3 * ImageSize * ImageSize;

    /// <summary>The layout a run configuration implies.</summary>
    public static BatchLayout From(VlaConfig config) => new(
        config.Data.MaxSeqLen,
        config.Model.VlmConfig.UseAuxCamera ? 2 : 1,
        config.Data.ImageSize,
        config.Data.StateDim,
        config.Model.ActionHeadConfig.Horizon,
        config.Model.ActionHeadConfig.PerActionDim);
}
