namespace Vla.Config;

/// <summary>The <c>data:</c> section: where episodes come from and how they become batches.</summary>
public sealed record DataConfig
{
    /// <summary>Training Parquet: files, folders or globs (one string or a list).</summary>
    public List<string> TrainParquetFiles { get; init; } = [];

    /// <summary>Validation Parquet: files, folders or globs; empty skips validation.</summary>
    public List<string> ValParquetFiles { get; init; } = [];

    /// <summary>Folder holding <c>tokenizer.model</c>; empty means the model folder.</summary>
    public string TokenizerNameOrPath { get; init; } = "";

    /// <summary>Kept for seed configs; image preprocessing follows the vision tower's size.</summary>
    public string ImageProcessorNameOrPath { get; init; } = "";

    /// <summary>Kept for seed configs; unused (the SigLIP tower is PaliGemma's own).</summary>
    public string SiglipModelName { get; init; } = "";

    /// <summary>Observations per window, ending at the step whose action chunk is predicted.</summary>
    public int MaxSeqLen { get; init; } = 4;

    /// <summary>Prompt tokens kept after tokenization (longer prompts are truncated with a warning).</summary>
    public int PromptMaxLen { get; init; } = 77;

    /// <summary>Global batch size (split across ranks in distributed runs).</summary>
    public int BatchSize { get; init; } = 20;

    /// <summary>Image-decoding threads feeding the batch queue; 0 decodes on the consumer thread.</summary>
    public int NumWorkers { get; init; } = 8;

    /// <summary>Normalization stats JSON from <c>vla stats</c>; computed at start when missing.</summary>
    public string NormalizationStatsPath { get; init; } = "";

    /// <summary><c>min_max</c> (to [-1, 1], the seed's behaviour), <c>z_score</c> or <c>quantile</c> (q01/q99 to [-1, 1]).</summary>
    public string NormalizationMode { get; init; } = "min_max";

    /// <summary>Length of every <c>state</c> vector.</summary>
    public int StateDim { get; init; } = 7;

    /// <summary>Square side images are resized to; must equal the vision tower's image size (PaliGemma-3B-224: 224).</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>Largest decoded image accepted, in pixels (guards against decompression bombs).</summary>
    public long MaxImagePixels { get; init; } = 4096L * 4096;

    /// <summary>Batches decoded ahead of the model; bounds the memory the pipeline holds.</summary>
    public int PrefetchBatches { get; init; } = 4;

    /// <summary>
    /// Check every image (format, size, a cut-off file) when the data is opened, so a bad frame stops the run before
    /// it starts; off, each frame is checked when it is decoded (a large dataset then starts without reading every image first).
    /// </summary>
    public bool VerifyImages { get; init; } = true;

    /// <summary>Leave out the windows whose current frame is broken, counting them in the log, instead of stopping with exit 2.</summary>
    public bool SkipBadFrames { get; init; }

    /// <summary><c>auto</c> (a folder holding <c>meta/info.json</c> is a LeRobot dataset, anything else the seed schema), <c>seed</c> or <c>lerobot</c>.</summary>
    public string Format { get; init; } = "auto";

    /// <summary>LeRobot: camera features in order (the first is the main camera, the second the wrist camera); empty: every visual feature in <c>info.json</c> order.</summary>
    public List<string> ImageKeys { get; init; } = [];

    /// <summary>LeRobot: the feature holding the robot state.</summary>
    public string StateKey { get; init; } = "observation.state";

    /// <summary>LeRobot: the feature holding the action.</summary>
    public string ActionKey { get; init; } = "action";

    /// <summary>Episodes to train on: indices and <c>"start:stop"</c> ranges (LeRobot: <c>episode_index</c>; seed schema: position); empty: all.</summary>
    public List<string> TrainEpisodes { get; init; } = [];

    /// <summary>Episodes to validate on; with no <c>val_parquet_files</c>, they come from the training data's root.</summary>
    public List<string> ValEpisodes { get; init; } = [];

    /// <summary>Decoded video frames kept in memory, in MB (LeRobot video datasets).</summary>
    public int VideoCacheMb { get; init; } = 1024;

    /// <summary>The data paths of the training or validation split (validation episodes without their own path come from the training data).</summary>
    public List<string> DataPaths(bool validation) =>
        !validation ? TrainParquetFiles : ValParquetFiles.Count > 0 || ValEpisodes.Count == 0 ? ValParquetFiles : TrainParquetFiles;

    /// <summary>True when the run validates (a validation path or validation episodes are configured).</summary>
    [YamlDotNet.Serialization.YamlIgnore]
    public bool HasValidation => ValParquetFiles.Count > 0 || ValEpisodes.Count > 0;
}
