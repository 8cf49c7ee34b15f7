using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;
using Vla.Data;
using Vla.Data.LeRobot;
using Vla.Data.Seed;
using Vla.Config;

namespace Vla.Tests.Data.LeRobot;

/// <summary>
/// The LeRobot v2.1 sample (tests/data/lerobot-g1-v21: three real episodes, MIT) and copies of it made here: a v3.0 layout as
/// LeRobot's converter writes one, an H.264 copy, and broken copies.
/// </summary>
internal static class LeRobotFixture
{
    public static string V21 => Path.Combine(TestFiles.RepoRoot, "tests", "data", "lerobot-g1-v21");
    public const string Camera = "observation.images.cam_high";
    public static readonly int[] Episodes = [41, 42, 43];
    public static readonly int[] Lengths = [399, 400, 394];

    /// <summary>FFmpeg is a system component: its absence skips, unless CI asks for it (VLA_REQUIRE_FFMPEG=1).</summary>
    public static void RequireFfmpeg()
    {
        if (VideoDecoder.Available) return;
        const string reason = "ffmpeg is not installed (Debian: apt-get install ffmpeg).";
        if (Environment.GetEnvironmentVariable("VLA_REQUIRE_FFMPEG") == "1") Assert.Fail(reason + " VLA_REQUIRE_FFMPEG=1 requires it.");
        Assert.Skip(reason);
    }

    public static DataOptions Options(string? episodes = "41:44", int size = 32) => new()
    {
        Episodes = episodes is null ? null : EpisodeSelection.Parse([episodes], "--episodes"),
        ImageSize = size, StateDim = 26, PerActionDim = 26,
    };

    public static string VideoOf(string root, int episode) =>
        Path.Combine(root, "videos", "chunk-000", Camera, $"episode_{episode:D6}.mp4");

    public static string DataOf(string root, int episode) =>
        Path.Combine(root, "data", "chunk-000", $"episode_{episode:D6}.parquet");

    /// <summary>A writable copy of the v2.1 sample under <paramref name="folder"/>.</summary>
    public static string CopyV21(string folder)
    {
        string root = Path.Combine(folder, "lerobot-v21");
        foreach (var file in Directory.EnumerateFiles(V21, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(root, Path.GetRelativePath(V21, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetAttributes(target, FileAttributes.Normal);
        }
        return root;
    }

    /// <summary>Runs ffmpeg or ffprobe and returns its standard output; a failure fails the test with its error output.</summary>
    public static string Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} failed: {error.Result}");
        return output;
    }

    /// <summary>The duration of a video stream as LeRobot's converter reads it (the stream's duration).</summary>
    public static double Duration(string video) =>
        double.Parse(Run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=duration", "-of", "csv=p=0", video).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Writes LeRobot-style rows: state and action lists, timestamp, frame_index, episode_index, index, task_index.</summary>
    public static async Task WriteRowsAsync(string path, IReadOnlyList<(int Episode, IReadOnlyList<StepRecord> Steps, double[] Times)> episodes)
    {
        var state = new DataField<float>("element");
        var action = new DataField<float>("element");
        var timestamp = new DataField<float>("timestamp");
        var frame = new DataField<long>("frame_index");
        var episodeIndex = new DataField<long>("episode_index");
        var index = new DataField<long>("index");
        var task = new DataField<long>("task_index");
        var schema = new ParquetSchema(new ListField("observation.state", state), new ListField("action", action), timestamp, frame, episodeIndex, index, task);
        var rows = episodes.SelectMany(e => e.Steps.Select((s, i) => (e.Episode, Step: s, Time: e.Times[i], Frame: i))).ToList();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        using var group = writer.CreateRowGroup(); // one row group for all, as pandas writes it
        await SeedEpisodeWriter.WriteListAsync(group, state, rows.Select(r => r.Step.State), CancellationToken.None);
        await SeedEpisodeWriter.WriteListAsync(group, action, rows.Select(r => r.Step.Action), CancellationToken.None);
        await group.WriteAsync<float>(timestamp, rows.Select(r => (float)r.Time).ToArray());
        await group.WriteAsync<long>(frame, rows.Select(r => (long)r.Frame).ToArray());
        await group.WriteAsync<long>(episodeIndex, rows.Select(r => (long)r.Episode).ToArray());
        await group.WriteAsync<long>(index, rows.Select((_, i) => (long)i).ToArray());
        await group.WriteAsync<long>(task, rows.Select(_ => 0L).ToArray());
    }

    /// <summary>
    /// A v3.0 copy of the sample: the three episodes' rows in one Parquet, their videos concatenated (stream copy) into one MP4,
    /// <c>meta/episodes/chunk-000/file-000.parquet</c> with each episode's rows and its video's from/to timestamps (running sums of
    /// the episode videos' durations, as LeRobot's converter computes them), <c>meta/tasks.parquet</c> and a v3.0 <c>info.json</c>.
    /// </summary>
    public static async Task<string> WriteV3Async(string folder)
    {
        string root = Path.Combine(folder, "lerobot-v30");
        var v21 = await EpisodeDataset.OpenAsync([V21], Options(size: 32));
        double fps = 30;
        await WriteRowsAsync(Path.Combine(root, "data", "chunk-000", "file-000.parquet"),
            v21.Episodes.Select(e => (e.Id, e.Steps, Enumerable.Range(0, e.Length).Select(i => i / fps).ToArray())).ToList());

        string video = Path.Combine(root, "videos", Camera, "chunk-000", "file-000.mp4");
        Directory.CreateDirectory(Path.GetDirectoryName(video)!);
        string list = Path.Combine(folder, "concat.txt");
        File.WriteAllLines(list, Episodes.Select(e => $"file '{VideoOf(V21, e)}'"));
        Run("ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", video);

        var durations = Episodes.Select(e => Duration(VideoOf(V21, e))).ToArray();
        var from = new double[3];
        for (int i = 1; i < 3; i++) from[i] = from[i - 1] + durations[i - 1];
        long[] Longs(Func<int, long> f) => Enumerable.Range(0, 3).Select(f).ToArray();
        var fields = new List<(DataField Field, Array Values)>
        {
            (new DataField<long>("episode_index"), Longs(i => Episodes[i])),
            (new DataField<long>("length"), Longs(i => Lengths[i])),
            (new DataField<long>("data/chunk_index"), Longs(_ => 0)),
            (new DataField<long>("data/file_index"), Longs(_ => 0)),
            (new DataField<long>("dataset_from_index"), Longs(i => Lengths.Take(i).Sum())),
            (new DataField<long>("dataset_to_index"), Longs(i => Lengths.Take(i + 1).Sum())),
            (new DataField<long>($"videos/{Camera}/chunk_index"), Longs(_ => 0)),
            (new DataField<long>($"videos/{Camera}/file_index"), Longs(_ => 0)),
            (new DataField<double>($"videos/{Camera}/from_timestamp"), from),
            (new DataField<double>($"videos/{Camera}/to_timestamp"), Enumerable.Range(0, 3).Select(i => from[i] + durations[i]).ToArray()),
        };
        var tasks = new DataField<string>("element");
        var tasksList = new ListField("tasks", tasks);
        string episodesFile = Path.Combine(root, "meta", "episodes", "chunk-000", "file-000.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(episodesFile)!);
        await using (var stream = File.Create(episodesFile))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema([tasksList, .. fields.Select(f => (Field)f.Field)]), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(tasks, Enumerable.Repeat(v21.Episodes[0].Prompt.AsMemory(), 3).ToArray(), new[] { tasks.MaxDefinitionLevel, tasks.MaxDefinitionLevel, tasks.MaxDefinitionLevel }, new[] { 0, 0, 0 }, CancellationToken.None);
            foreach (var (field, values) in fields)
            {
                if (values is long[] l) await group.WriteAsync<long>(field, l);
                else await group.WriteAsync<double>(field, (double[])values);
            }
        }

        var taskIndex = new DataField<long>("task_index");
        var taskText = new DataField<string>("task");
        await using (var stream = File.Create(Path.Combine(root, "meta", "tasks.parquet")))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(taskIndex, taskText), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(taskIndex, new long[] { 0 });
            await group.WriteAsync(taskText, new List<string> { v21.Episodes[0].Prompt });
        }

        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(V21, "meta", "info.json")))!.AsObject();
        info["codebase_version"] = "v3.0";
        info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet";
        info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4";
        info["total_episodes"] = 3;
        info.Remove("total_chunks");
        info.Remove("total_videos");
        File.WriteAllText(Path.Combine(root, "meta", "info.json"), info.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return root;
    }

    /// <summary>The frame of step <paramref name="step"/> of episode <paramref name="index"/> (position) as the loader receives it.</summary>
    public static float[] Frame(EpisodeDataset dataset, int index, int step, int size = 32)
    {
        var chw = new float[3 * size * size];
        var problem = dataset.Frames.Preprocess(dataset.Episodes[index], step, 1, size, 1L << 30, chw);
        Assert.Null(problem);
        return chw;
    }
}
