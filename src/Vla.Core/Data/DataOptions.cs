using Vla.Config;

namespace Vla.Data;

/// <summary>What the reader expects of the data and how strictly it checks it.</summary>
public sealed record DataOptions
{
    /// <summary>Expected length of every <c>state</c> vector; null accepts any consistent length.</summary>
    public int? StateDim { get; init; }

    /// <summary>Expected length of every <c>action</c> vector; null accepts any consistent length.</summary>
    public int? PerActionDim { get; init; }

    /// <summary>The <c>action</c> column must exist (training, stats and evaluation need it).</summary>
    public bool RequireAction { get; init; } = true;

    /// <summary>The wrist camera column must exist (when the model uses it).</summary>
    public bool RequireImage2 { get; init; }

    /// <summary>Check every image's header (format and size) while indexing, so a bad image fails before training starts.</summary>
    public bool VerifyImages { get; init; } = true;

    /// <summary>Decode every image fully while indexing (<c>vla inspect</c>): slower than the header check, and it also finds what only a decoder rejects.</summary>
    public bool DecodeImages { get; init; }

    /// <summary>Broken frames are set aside (<see cref="EpisodeDataset.BrokenFrames"/>) instead of being problems; their windows are left out.</summary>
    public bool SkipBadFrames { get; init; }

    /// <summary>Largest image accepted, in pixels.</summary>
    public long MaxImagePixels { get; init; } = 4096L * 4096;

    /// <summary>Collect every bad row instead of stopping at the first (for <c>vla inspect</c>), or skip them.</summary>
    public bool CollectProblems { get; init; }

    /// <summary>The options a run configuration implies.</summary>
    public static DataOptions From(VlaConfig config) => new()
    {
        StateDim = config.Data.StateDim,
        PerActionDim = config.Model.ActionHeadConfig.PerActionDim,
        RequireImage2 = config.Model.VlmConfig.UseAuxCamera,
        MaxImagePixels = config.Data.MaxImagePixels,
        VerifyImages = config.Data.VerifyImages,
        SkipBadFrames = config.Data.SkipBadFrames,
    };
}
