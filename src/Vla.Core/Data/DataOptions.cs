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

    /// <summary><c>auto</c> (a folder holding <c>meta/info.json</c> is a LeRobot dataset), <c>seed</c> or <c>lerobot</c>.</summary>
    public string Format { get; init; } = "auto";

    /// <summary>The episodes to use (LeRobot: by <c>episode_index</c>; seed schema: by position); null uses all.</summary>
    public EpisodeSelection? Episodes { get; init; }

    /// <summary>LeRobot: the camera features in order (main camera first); empty uses every visual feature in <c>info.json</c> order.</summary>
    public IReadOnlyList<string> ImageKeys { get; init; } = [];

    /// <summary>LeRobot: the feature holding the robot state.</summary>
    public string StateKey { get; init; } = "observation.state";

    /// <summary>LeRobot: the feature holding the action.</summary>
    public string ActionKey { get; init; } = "action";

    /// <summary>Side of the square that video frames are decoded to (the vision tower's input size).</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>How video frames are made square when they are decoded (pi0 and pi0.5 pad them, as LeRobot does).</summary>
    public ImageFit ImageFit { get; init; }

    /// <summary>Bytes of decoded video frames kept in memory.</summary>
    public long VideoCacheBytes { get; init; } = 1024L << 20;

    /// <summary>
    /// The episodes of the training or validation split. With validation episodes on the training root and no training episodes
    /// named, training takes all the others, so no episode is in both.
    /// </summary>
    private static EpisodeSelection? Selection(DataConfig data, bool validation)
    {
        var val = EpisodeSelection.Parse(data.ValEpisodes, "data.val_episodes");
        if (validation) return val;
        var train = EpisodeSelection.Parse(data.TrainEpisodes, "data.train_episodes");
        return train ?? (val is not null && data.ValParquetFiles.Count == 0 ? EpisodeSelection.AllBut(val, "data.train_episodes") : null);
    }

    /// <summary>The options a run configuration implies for its training (or, with <paramref name="validation"/>, its validation) data.</summary>
    public static DataOptions From(VlaConfig config, bool validation = false) =>
        From(config.Data, config.Model.VlmConfig.UseAuxCamera, validation) with
        {
            PerActionDim = config.Model.ActionHeadConfig.PerActionDim,
            ImageFit = config.Model.Policy is "pi0" or "pi05" ? ImageFit.Pad : ImageFit.Stretch,
        };

    /// <summary>The options a <c>data:</c> section implies for a policy that reads the wrist camera when <paramref name="secondCamera"/>.</summary>
    public static DataOptions From(DataConfig data, bool secondCamera, bool validation = false) => new()
    {
        StateDim = data.StateDim,
        RequireImage2 = secondCamera,
        MaxImagePixels = data.MaxImagePixels,
        VerifyImages = data.VerifyImages,
        SkipBadFrames = data.SkipBadFrames,
        Format = data.Format,
        Episodes = Selection(data, validation),
        ImageKeys = data.ImageKeys,
        StateKey = data.StateKey,
        ActionKey = data.ActionKey,
        ImageSize = data.ImageSize,
        VideoCacheBytes = (long)data.VideoCacheMb << 20,
    };
}
