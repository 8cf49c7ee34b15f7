using Vla.Config;
using Vla.Runtime;
using Vla.Data.Seed;
using Vla.Data.Parquet;

namespace Vla.Data;

/// <summary>
/// The episodes of a dataset, indexed in memory without their images: seed-schema Parquet files (files, folders or
/// globs; episodes open at <c>is_first</c> and never span files) or a LeRobot dataset read in place
/// (<see cref="LeRobot.LeRobotDataset"/>). Opening checks every row and reports bad data by file, row and column.
/// </summary>
public sealed class EpisodeDataset
{
    /// <summary>The Parquet files, in the order episodes are numbered.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The episodes in file order.</summary>
    public IReadOnlyList<Episode> Episodes { get; }

    /// <summary>Everything wrong found while opening (only filled when <see cref="DataOptions.CollectProblems"/> is set; otherwise the first problem throws).</summary>
    public IReadOnlyList<DataProblem> Problems { get; }

    /// <summary>Frames found broken while opening under <see cref="DataOptions.SkipBadFrames"/>: their windows are left out of training.</summary>
    public IReadOnlyList<DataProblem> BrokenFrames { get; }

    /// <summary>True when <paramref name="step"/>'s frame is one of <see cref="BrokenFrames"/>.</summary>
    public bool IsBroken(StepRecord step) => _broken.Contains((step.FileIndex, step.Row));

    private readonly HashSet<(int File, long Row)> _broken;

    /// <summary>The columns of each file, by file.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Columns { get; }

    /// <summary>The camera frames, read or decoded on demand.</summary>
    public IFrameSource Frames { get; }

    /// <summary>The encoded images of a dataset that stores them in its rows (seed schema, LeRobot <c>image</c> features).</summary>
    public ImageStore Images => (Frames as EncodedFrameSource)?.Images
        ?? throw new InvalidOperationException("This dataset's frames are video; read them through Frames.");

    /// <summary>What the data is: <c>seed schema</c> or <c>LeRobot v2.1</c> and the like.</summary>
    public string Format { get; private init; } = "seed schema";

    /// <summary>The state dimensions' names (LeRobot's <c>names</c>), or null when the data has none.</summary>
    public IReadOnlyList<string>? StateNames { get; private init; }

    /// <summary>The action dimensions' names, or null when the data has none.</summary>
    public IReadOnlyList<string>? ActionNames { get; private init; }

    /// <summary>Episodes the dataset's metadata lists whose files are missing (a partial LeRobot download; only filled under <see cref="DataOptions.CollectProblems"/>).</summary>
    public IReadOnlyList<int> MissingEpisodes { get; internal init; } = [];

    /// <summary>The statistics the dataset's own metadata records for its selected episodes (LeRobot's <c>meta/</c>), or null.</summary>
    public NormalizationStats? RecordedStats { get; private init; }

    /// <summary>Length of the state vectors (0 when there are no rows).</summary>
    public int StateDim => Episodes.Count == 0 ? 0 : Episodes[0].Steps[0].State.Length;

    /// <summary>Length of the action vectors (0 when there is no action column).</summary>
    public int ActionDim => Episodes.Count == 0 ? 0 : Episodes[0].Steps[0].Action.Length;

    /// <summary>Total number of steps.</summary>
    public int StepCount => Episodes.Sum(e => e.Length);

    private EpisodeDataset(IReadOnlyList<string> files, List<Episode> episodes, List<DataProblem> problems,
        Dictionary<string, IReadOnlyList<string>> columns, List<DataProblem> broken, long imageCacheBytes)
        : this(files, episodes, problems, columns, broken, new EncodedFrameSource(new ImageStore(files, imageCacheBytes), [StepColumns.Image1[0], StepColumns.Image2[0]]))
    {
    }

    /// <summary>A dataset over any frame source (the LeRobot reader's constructor).</summary>
    internal EpisodeDataset(IReadOnlyList<string> files, List<Episode> episodes, List<DataProblem> problems,
        Dictionary<string, IReadOnlyList<string>> columns, List<DataProblem> broken, IFrameSource frames,
        string format = "seed schema", IReadOnlyList<string>? stateNames = null, IReadOnlyList<string>? actionNames = null, NormalizationStats? recordedStats = null)
    {
        BrokenFrames = broken;
        var fileIndex = files.Select((file, i) => (file, i)).ToDictionary(x => x.file, x => x.i);
        _broken = broken.Select(p => (fileIndex[p.File], p.Row ?? -1)).ToHashSet();
        Files = files;
        Episodes = episodes;
        Problems = problems;
        Columns = columns;
        Frames = frames;
        Format = format;
        StateNames = stateNames;
        ActionNames = actionNames;
        RecordedStats = recordedStats;
    }

    /// <summary>The name of state (<paramref name="action"/> false) or action dimension <paramref name="dim"/>: LeRobot's name, else <c>dim N</c>.</summary>
    public string DimensionName(bool action, int dim) => DimensionNames.Of(action ? ActionNames : StateNames, dim);

    /// <summary>
    /// Opens the data that <paramref name="patterns"/> name (relative to the current folder, else <paramref name="baseDir"/>):
    /// a LeRobot dataset's root (a folder holding <c>meta/info.json</c>, or any folder under <c>data.format: lerobot</c>), or
    /// seed-schema Parquet files, folders and globs; <see cref="DataOptions.Episodes"/> selects episodes of either.
    /// </summary>
    public static async Task<EpisodeDataset> OpenAsync(IEnumerable<string> patterns, DataOptions options,
        string? baseDir = null, long imageCacheBytes = 512L << 20, CancellationToken ct = default)
    {
        var list = patterns.ToList();
        if (LeRobot.LeRobotDataset.FindRoot(list, options.Format, baseDir) is string root)
            return await LeRobot.LeRobotDataset.OpenAsync(root, options, ct);
        var dataset = await OpenSeedAsync(list, options, baseDir, imageCacheBytes, ct);
        return options.Episodes is { } selection ? dataset.Select(selection) : dataset;
    }

    /// <summary>The episodes at the positions <paramref name="selection"/> names, numbered again from 0 (each keeps its position as <see cref="Episode.SourceIndex"/>).</summary>
    public EpisodeDataset Select(EpisodeSelection selection)
    {
        if (Frames is LeRobot.VideoFrameSource)
            throw new InvalidOperationException("A LeRobot video dataset is selected when it is opened (DataOptions.Episodes): its frames are indexed by position.");
        var kept = Episodes.Where(e => selection.Contains(e.Id)).Select((e, i) => e with { Index = i, SourceIndex = e.Id }).ToList();
        if (kept.Count == 0)
            throw new BadInputException($"{selection.Key} {selection} is out of range: {string.Join(", ", Files.Select(Path.GetFileName).Take(3))}{(Files.Count > 3 ? ", …" : "")} " +
                $"has {Episodes.Count} episodes (0–{Episodes.Count - 1}).");
        return new EpisodeDataset(Files, kept, [.. Problems], new Dictionary<string, IReadOnlyList<string>>(Columns), [.. BrokenFrames], Frames,
            Format, StateNames, ActionNames, RecordedStats);
    }

    private static async Task<EpisodeDataset> OpenSeedAsync(List<string> patterns, DataOptions options,
        string? baseDir, long imageCacheBytes, CancellationToken ct)
    {
        var files = new List<string>();
        foreach (var pattern in patterns)
        {
            var matched = PathResolver.ExpandParquet(pattern, baseDir);
            if (matched.Count == 0) throw new BadInputException($"{pattern}: no Parquet file found (give a file, a folder or a glob).");
            files.AddRange(matched.Where(f => !files.Contains(f)));
        }
        if (files.Count == 0) throw new BadInputException("No data path was given.");

        var problems = new List<DataProblem>();
        var episodes = new List<Episode>();
        var columns = new Dictionary<string, IReadOnlyList<string>>();
        var broken = new List<DataProblem>();
        int? stateDim = options.StateDim, actionDim = options.PerActionDim;
        for (int f = 0; f < files.Count; f++)
        {
            var read = await SeedStepReader.ReadAsync(files[f], f, options with { StateDim = stateDim, PerActionDim = actionDim }, ct);
            columns[files[f]] = read.Columns;
            problems.AddRange(read.Problems);
            broken.AddRange(read.BrokenFrames);
            if (read.Steps.Count > 0)
            {
                // Without a configured length, the length most of the first file's rows have fixes it for the rest.
                stateDim ??= ParquetColumns.MostCommonLength(read.Steps.Select(s => s.State));
                if (ParquetColumns.MostCommonLength(read.Steps.Select(s => s.Action)) is int actions and > 0) actionDim ??= actions;
            }
            SplitEpisodes(files[f], read.Steps, episodes, problems);
            ThrowIfStrict(options, problems);
        }
        if (episodes.Count == 0 && problems.Count == 0)
            problems.Add(new DataProblem(string.Join(", ", files), null, null, "the dataset has no episodes (no rows)."));
        ThrowIfStrict(options, problems);
        return new EpisodeDataset(files, episodes, problems, columns, broken, imageCacheBytes);
    }

    /// <summary>Opens the configured training or validation data.</summary>
    public static Task<EpisodeDataset> OpenAsync(VlaConfig config, bool validation, CancellationToken ct = default) =>
        OpenAsync(config.Data.DataPaths(validation), DataOptions.From(config, validation), config.BaseDirectory, ct: ct);

    private static void SplitEpisodes(string file, IReadOnlyList<StepRecord> steps, List<Episode> episodes, List<DataProblem> problems)
    {
        List<StepRecord>? current = null;
        int orphans = 0;
        foreach (var step in steps)
        {
            if (step.IsFirst)
            {
                if (current is { Count: > 0 }) episodes.Add(new Episode(episodes.Count, file, current));
                current = [step];
            }
            else if (current is null)
            {
                if (orphans++ == 0)
                    problems.Add(new DataProblem(file, step.Row, StepColumns.IsFirst[0], "rows come before the first is_first = true, so they belong to no episode."));
            }
            else current.Add(step);
        }
        if (current is { Count: > 0 }) episodes.Add(new Episode(episodes.Count, file, current));
    }

    /// <summary>Throws the first of <paramref name="problems"/> unless they are being collected, counting the rest as <paramref name="what"/>.</summary>
    internal static void ThrowIfStrict(DataOptions options, List<DataProblem> problems, string what = "problem(s)", string hint = "")
    {
        if (options.CollectProblems || problems.Count == 0) return;
        string more = problems.Count > 1 ? $" ({problems.Count - 1} more {what}; run 'vla inspect' to list them{hint})" : "";
        throw new BadInputException(problems[0] + more);
    }
}
