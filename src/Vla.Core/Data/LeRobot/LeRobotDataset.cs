using Parquet.Schema;
using Vla.Config;
using Vla.Runtime;
using Vla.Data.Parquet;

namespace Vla.Data.LeRobot;

/// <summary>
/// Opens a LeRobot dataset where it lies (v2.0/v2.1: a Parquet and a video per episode; v3.0: many episodes per file, spans in
/// <c>meta/episodes/</c>) as an <see cref="EpisodeDataset"/>: state and action from <c>data.state_key</c> / <c>data.action_key</c>,
/// cameras from <c>data.image_keys</c> (video decoded by FFmpeg, or image bytes in the rows), each episode's task as its prompt,
/// dimension names from <c>info.json</c>, and the statistics <c>meta/</c> records.
/// </summary>
public static class LeRobotDataset
{
    /// <summary>The LeRobot root among <paramref name="patterns"/>, or null when the data is seed-schema Parquet.</summary>
    public static string? FindRoot(IReadOnlyList<string> patterns, string format, string? baseDir)
    {
        if (format == "seed") return null;
        var roots = patterns.Select(p => PathResolver.ResolveExisting(p, baseDir) is { } path && Directory.Exists(path) ? path : null).ToList();
        var lerobot = roots.Where(r => r is not null && (format == "lerobot" || File.Exists(Path.Combine(r, "meta", "info.json")))).ToList();
        if (lerobot.Count == 0)
        {
            if (format == "lerobot")
                throw new BadInputException($"data.format is lerobot, but {string.Join(", ", patterns)} is not a folder holding meta/info.json.");
            return null;
        }
        if (patterns.Count > 1)
            throw new BadInputException($"{lerobot[0]} is a LeRobot dataset: give its root alone (one data path; choose episodes with data.train_episodes, data.val_episodes or DataOptions.Episodes).");
        return lerobot[0];
    }

    /// <summary>Opens the dataset at <paramref name="root"/> (its selected episodes only).</summary>
    public static async Task<EpisodeDataset> OpenAsync(string root, DataOptions options, CancellationToken ct = default)
    {
        string infoPath = Path.Combine(root, "meta", "info.json");
        if (!File.Exists(infoPath)) throw new BadInputException($"{infoPath} is missing, so {root} is not a LeRobot dataset.");
        var info = LeRobotInfo.Load(infoPath);
        var stateFeature = info.Feature(options.StateKey, "data.state_key");
        var actionFeature = options.RequireAction || info.Features.Any(f => f.Key == options.ActionKey) ? info.Feature(options.ActionKey, "data.action_key") : null;
        var cameras = Cameras(info, options);

        var (meta, tasks) = await LeRobotMeta.ReadEpisodesAsync(root, info, ct);
        var selected = Select(meta, options.Episodes, root);
        var problems = new List<DataProblem>();
        bool video = cameras[0].Dtype == "video";
        if (video) VideoDecoder.RequireFfmpeg();
        var located = Locate(root, info, cameras, selected, problems);
        ThrowIfStrict(options, problems, "missing file(s)");

        // The rows of the selected episodes, file by file.
        var files = located.DataFiles.Keys.ToList();
        var broken = new List<DataProblem>(); // image frames set aside under data.skip_bad_frames
        var columns = new Dictionary<string, IReadOnlyList<string>>();
        var rows = new Dictionary<int, List<EpisodeRow>>();
        int? stateDim = options.StateDim ?? Dim(stateFeature), actionDim = options.PerActionDim ?? (actionFeature is null ? null : Dim(actionFeature));
        for (int f = 0; f < files.Count; f++)
        {
            var wanted = located.DataFiles[files[f]].Select(e => e.Index).ToHashSet();
            await ReadRowsAsync(files[f], f, wanted, options.StateKey, actionFeature?.Key, stateDim, actionDim, cameras, options, columns, rows,
                problems, options.SkipBadFrames ? broken : problems, ct);
            ThrowIfStrict(options, problems, "problem(s)");
        }

        var assembled = Assemble(root, info, cameras, selected, tasks, files, located, rows, problems);
        ThrowIfStrict(options, problems, "problem(s)");
        var frames = await OpenFramesAsync(video, info, cameras, files, assembled, options, problems, ct);
        ThrowIfStrict(options, problems, "problem(s)");

        var stats = LeRobotStats.Read(root, info, meta.Count, selected.Select(e => e.Index).ToList(), options.StateKey, actionFeature?.Key);
        return new EpisodeDataset(files, assembled.Episodes, problems, columns, broken, frames, $"LeRobot {info.Version}",
            Names(stateFeature, stateDim), actionFeature is null ? null : Names(actionFeature, actionDim), stats)
        {
            MissingEpisodes = [.. located.Missing],
        };
    }

    /// <summary>One row of an episode as read: its step, timestamp and task index.</summary>
    private readonly record struct EpisodeRow(StepRecord Step, double Time, int Task);

    /// <summary>Where the selected episodes' files lie: each data file with its episodes, each episode's clips (one per video camera).</summary>
    private sealed record Located(Dictionary<string, List<LeRobotEpisode>> DataFiles, Dictionary<int, string[]> ClipPaths, SortedSet<int> Missing);

    /// <summary>The selected episodes made into <see cref="Episode"/>s, with each one's timestamps and clips.</summary>
    private sealed record Assembled(List<Episode> Episodes, List<double[]> Timestamps, List<VideoFrameSource.Clip[]> Clips);

    /// <summary>
    /// Every file the selection needs, before anything is read: a partial download names all that is missing (as problems, with the
    /// episodes they belong to in <see cref="Located.Missing"/>).
    /// </summary>
    private static Located Locate(string root, LeRobotInfo info, List<LeRobotFeature> cameras, List<LeRobotEpisode> selected, List<DataProblem> problems)
    {
        var dataFiles = new Dictionary<string, List<LeRobotEpisode>>();
        var clipPaths = new Dictionary<int, string[]>();
        var missing = new SortedSet<int>();
        foreach (var episode in selected)
        {
            string data = Path.GetFullPath(Path.Combine(root, LeRobotInfo.Format(info.DataPath, Fields(info, episode.Index, episode.DataChunk, episode.DataFile, null))));
            if (!File.Exists(data))
            {
                problems.Add(new DataProblem(data, null, null, $"the data file of episode {episode.Index} is missing."));
                missing.Add(episode.Index);
            }
            else (dataFiles.TryGetValue(data, out var list) ? list : dataFiles[data] = []).Add(episode);
            clipPaths[episode.Index] = cameras.Where(c => c.Dtype == "video").Select(camera =>
            {
                var span = episode.Videos.GetValueOrDefault(camera.Key);
                string template = info.VideoPath ?? throw new BadInputException($"{info.Path}: '{camera.Key}' is a video feature but 'video_path' is missing.");
                string path = Path.GetFullPath(Path.Combine(root, LeRobotInfo.Format(template,
                    Fields(info, episode.Index, span?.Chunk ?? episode.DataChunk, span?.File ?? episode.DataFile, camera.Key))));
                if (!File.Exists(path))
                {
                    problems.Add(new DataProblem(path, null, camera.Key, $"the video of episode {episode.Index} is missing."));
                    missing.Add(episode.Index);
                }
                return path;
            }).ToArray();
        }
        return new Located(dataFiles, clipPaths, missing);
    }

    /// <summary>
    /// The selected episodes that have rows, in selection order: each step marked first or last and given the episode's task as
    /// its prompt, with the episode's timestamps and clips; an episode without rows, or with a row count other than meta/'s, is a problem.
    /// </summary>
    private static Assembled Assemble(string root, LeRobotInfo info, List<LeRobotFeature> cameras, List<LeRobotEpisode> selected, IReadOnlyDictionary<int, string> tasks,
        List<string> files, Located located, Dictionary<int, List<EpisodeRow>> rows, List<DataProblem> problems)
    {
        var result = new Assembled([], [], []);
        foreach (var e in selected)
        {
            if (!rows.TryGetValue(e.Index, out var steps) || steps.Count == 0)
            {
                if (located.DataFiles.Values.Any(list => list.Contains(e)))
                    problems.Add(new DataProblem(files.FirstOrDefault(f => located.DataFiles[f].Contains(e)) ?? root, null, "episode_index", $"holds no rows of episode {e.Index}."));
                continue;
            }
            string prompt = e.Tasks.FirstOrDefault(t => t.Length > 0) ?? tasks.GetValueOrDefault(steps[0].Task, "");
            var records = steps.Select((s, i) => s.Step with { IsFirst = i == 0, IsLast = i == steps.Count - 1, Prompt = prompt }).ToList();
            result.Episodes.Add(new Episode(result.Episodes.Count, files[records[0].FileIndex], records, e.Index));
            result.Timestamps.Add(steps.Select(s => s.Time).ToArray());
            if (located.ClipPaths.TryGetValue(e.Index, out var paths) && paths.Length > 0)
                result.Clips.Add(paths.Select((path, c) => e.Videos.TryGetValue(cameras[c].Key, out var span)
                    ? new VideoFrameSource.Clip(path, span.From, span.To)
                    : new VideoFrameSource.Clip(path, 0, Math.Max(steps.Count / info.Fps, steps[^1].Time + 1 / info.Fps))).ToArray());
            else result.Clips.Add([]);
            if (steps.Count != e.Length)
                problems.Add(new DataProblem(result.Episodes[^1].File, null, "episode_index", $"episode {e.Index} has {steps.Count} rows, but meta/ says {e.Length}."));
        }
        return result;
    }

    /// <summary>
    /// The episodes' frames: decoded from the videos (checked first when <c>data.verify_images</c> or <c>data.decode_images</c>
    /// asks), or read as image bytes from the data files' rows.
    /// </summary>
    private static async Task<IFrameSource> OpenFramesAsync(bool video, LeRobotInfo info, List<LeRobotFeature> cameras, List<string> files,
        Assembled assembled, DataOptions options, List<DataProblem> problems, CancellationToken ct)
    {
        var cameraKeys = cameras.Select(c => c.Key).ToList();
        if (!video) return new EncodedFrameSource(new ImageStore(files, 512L << 20, cameraKeys.Select(k => new[] { k }).ToList()), cameraKeys);
        var episodes = assembled.Episodes;
        var source = new VideoFrameSource(cameraKeys, [.. assembled.Clips], [.. assembled.Timestamps], episodes.Select(e => e.Id).ToArray(), info.Fps,
            options.ImageSize, options.VideoCacheBytes, options.ImageFit);
        if (options.VerifyImages || options.DecodeImages)
            await VideoChecks.CheckAsync(episodes, assembled.Clips, assembled.Timestamps, info.Fps, problems, ct);
        if (options.DecodeImages && problems.Count == 0)
            foreach (var episode in episodes) problems.AddRange(source.Check(episode));
        return source;
    }

    /// <summary>The cameras in use: <c>data.image_keys</c> in order, else every visual feature in <c>info.json</c> order.</summary>
    private static List<LeRobotFeature> Cameras(LeRobotInfo info, DataOptions options)
    {
        var cameras = options.ImageKeys.Count > 0
            ? options.ImageKeys.Select(k => info.Feature(k, "data.image_keys")).ToList()
            : info.Features.Where(f => f.IsVisual).ToList();
        foreach (var c in cameras.Where(c => !c.IsVisual))
            throw new BadInputException($"{info.Path}: data.image_keys names '{c.Key}', a {c.Dtype} feature, not a camera (video or image).");
        if (cameras.Count == 0) throw new BadInputException($"{info.Path}: the dataset has no camera (no feature of dtype video or image).");
        if (options.RequireImage2 && cameras.Count < 2)
            throw new BadInputException($"{info.Path}: model.vlm_config.use_aux_camera needs a second camera, but the dataset has only '{cameras[0].Key}'" +
                (options.ImageKeys.Count > 0 ? " in data.image_keys." : "."));
        cameras = cameras.Take(options.RequireImage2 ? 2 : cameras.Count).ToList();
        if (cameras.Select(c => c.Dtype).Distinct().Count() > 1)
            throw new BadInputException($"{info.Path}: the chosen cameras mix video and image features ({string.Join(", ", cameras.Select(c => $"{c.Key}: {c.Dtype}"))}); choose cameras of one kind in data.image_keys.");
        return cameras;
    }

    private static List<LeRobotEpisode> Select(SortedDictionary<int, LeRobotEpisode> meta, EpisodeSelection? selection, string root)
    {
        if (selection is null) return [.. meta.Values];
        var chosen = meta.Values.Where(e => selection.Contains(e.Index)).ToList();
        var unknown = selection.Singles.Where(i => !meta.ContainsKey(i)).ToList();
        if (unknown.Count > 0)
            throw new BadInputException($"{Path.Combine(root, "meta")}: {selection.Key} names episode(s) the dataset does not list " +
                $"({string.Join(", ", unknown.Take(5))}{(unknown.Count > 5 ? ", …" : "")}; it lists {meta.Count} episodes, {meta.Keys.Min()} to {meta.Keys.Max()}).");
        if (chosen.Count == 0)
            throw new BadInputException($"{Path.Combine(root, "meta")}: {selection.Key} '{selection}' selects none of the dataset's {meta.Count} episodes ({meta.Keys.Min()} to {meta.Keys.Max()}).");
        return chosen;
    }

    private static Dictionary<string, object> Fields(LeRobotInfo info, int episode, int chunk, int file, string? videoKey)
    {
        var fields = new Dictionary<string, object>
        {
            ["episode_index"] = episode, ["episode_chunk"] = info.IsV3 ? chunk : episode / info.ChunksSize,
            ["chunk_index"] = chunk, ["file_index"] = file,
        };
        if (videoKey is not null) fields["video_key"] = videoKey;
        return fields;
    }

    private static int? Dim(LeRobotFeature feature) => feature.Shape.Length == 1 && feature.Shape[0] > 0 ? feature.Shape[0] : null;

    private static IReadOnlyList<string>? Names(LeRobotFeature feature, int? dim) =>
        feature.Names is { } names && (dim is null || names.Count == dim) ? names : null;

    private static async Task ReadRowsAsync(string path, int fileIndex, HashSet<int> wanted, string stateKey, string? actionKey, int? stateDim, int? actionDim,
        List<LeRobotFeature> cameras, DataOptions options, Dictionary<string, IReadOnlyList<string>> columns,
        Dictionary<int, List<EpisodeRow>> rows, List<DataProblem> problems, List<DataProblem> frameProblems, CancellationToken ct)
    {
        await using var reader = await ParquetColumns.OpenAsync(path, ct);
        var schema = reader.Schema;
        columns[path] = schema.Fields.Select(f => f.Name).ToList();
        DataField? Column(string name, bool required)
        {
            var field = ParquetColumns.FindColumn(schema, [name]);
            if (field is null && required)
                problems.Add(new DataProblem(path, null, name, $"the column is missing (columns present: {string.Join(", ", columns[path])})."));
            return field;
        }
        var state = Column(stateKey, true);
        var action = actionKey is null ? null : Column(actionKey, true);
        var time = Column("timestamp", true);
        var episodeIndex = Column("episode_index", true);
        var task = Column("task_index", false);
        var images = cameras.Where(c => c.Dtype == "image").Select(c => (c.Key, Field: ParquetColumns.FindColumn(schema, [c.Key]))).ToList();
        foreach (var (key, field) in images.Where(i => i.Field is null))
            problems.Add(new DataProblem(path, null, key, "the image column is missing."));
        if (problems.Count > 0 && !options.CollectProblems) return;
        if (state is null || time is null || episodeIndex is null || (actionKey is not null && action is null)) return;

        long rowBase = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int count = checked((int)group.RowCount);
            var episodes = await ParquetColumns.ReadNumbersAsync(group, episodeIndex, path, ct);
            if (!episodes.Any(e => wanted.Contains((int)e))) { rowBase += count; continue; }
            var states = await ParquetColumns.ReadVectorsAsync(group, state, count, stateDim, path, rowBase, problems, ct);
            var actions = action is null ? null : await ParquetColumns.ReadVectorsAsync(group, action, count, actionDim, path, rowBase, problems, ct);
            var times = await ParquetColumns.ReadNumbersAsync(group, time, path, ct);
            var taskIndex = task is null ? null : await ParquetColumns.ReadNumbersAsync(group, task, path, ct);
            foreach (var (key, field) in images)
                if (options.VerifyImages && field is not null)
                    foreach (var (bytes, r) in (await ParquetColumns.ReadBinaryAsync(group, field, path, ct)).Select((b, r) => (b, r)))
                        if (wanted.Contains((int)episodes[r]) && (bytes is { Length: > 0 }
                                ? (options.DecodeImages ? ImagePreprocessor.CheckFully(bytes, options.MaxImagePixels) : ImagePreprocessor.CheckHeader(bytes, options.MaxImagePixels))
                                : "the image is missing.") is string why)
                            frameProblems.Add(new DataProblem(path, rowBase + r, key, why));
            for (int r = 0; r < count; r++)
            {
                int e = (int)episodes[r];
                if (!wanted.Contains(e)) continue;
                var step = new StepRecord(fileIndex, g, r, rowBase + r, states[r], actions?[r] ?? [], false, false, false, "");
                (rows.TryGetValue(e, out var list) ? list : rows[e] = []).Add(new EpisodeRow(step, times[r], taskIndex is null ? 0 : (int)taskIndex[r]));
            }
            rowBase += count;
        }
    }

    private static void ThrowIfStrict(DataOptions options, List<DataProblem> problems, string what) =>
        EpisodeDataset.ThrowIfStrict(options, problems, what,
            what == "missing file(s)" ? ", and DataOptions.Episodes or data.train_episodes can choose the episodes that are there" : "");
}
