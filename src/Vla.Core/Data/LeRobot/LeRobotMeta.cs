using System.Text.Json;
using Vla.Runtime;
using Parquet.Schema;
using Vla.Data.Parquet;

namespace Vla.Data.LeRobot;

/// <summary>Where one camera's frames of an episode lie: a video file and the episode's span in it (v3.0 concatenates episodes).</summary>
/// <param name="Chunk">Chunk index of the file.</param>
/// <param name="File">File index within the chunk (v3.0); the episode index in v2.x.</param>
/// <param name="From">Time of the episode's first frame in the file, in seconds.</param>
/// <param name="To">Time just after its last frame.</param>
public sealed record VideoSpan(int Chunk, int File, double From, double To);

/// <summary>One episode as <c>meta/</c> lists it.</summary>
/// <param name="Index">LeRobot's <c>episode_index</c>.</param>
/// <param name="Length">Number of frames (rows).</param>
/// <param name="Tasks">Its task texts (the first is the prompt).</param>
public sealed record LeRobotEpisode(int Index, int Length, IReadOnlyList<string> Tasks)
{
    /// <summary>Chunk of the data file holding its rows.</summary>
    public int DataChunk { get; init; }
    /// <summary>Index of the data file (v3.0); the episode index in v2.x.</summary>
    public int DataFile { get; init; }
    /// <summary>Each video feature's span, by key (v3.0; v2.x spans are whole files).</summary>
    public IReadOnlyDictionary<string, VideoSpan> Videos { get; init; } = new Dictionary<string, VideoSpan>();
}

/// <summary>Reads the episode list of <c>meta/</c>: <c>episodes.jsonl</c> and <c>tasks.jsonl</c> (v2.x) or <c>episodes/…parquet</c> and <c>tasks.parquet</c> (v3.0).</summary>
public static class LeRobotMeta
{
    /// <summary>The episodes <c>meta/</c> lists, by <c>episode_index</c>, and the task texts by <c>task_index</c>.</summary>
    public static async Task<(SortedDictionary<int, LeRobotEpisode> Episodes, IReadOnlyDictionary<int, string> Tasks)> ReadEpisodesAsync(
        string root, LeRobotInfo info, CancellationToken ct)
    {
        var tasks = info.IsV3 ? await ReadV3TasksAsync(Path.Combine(root, "meta", "tasks.parquet"), ct) : ReadV2Tasks(Path.Combine(root, "meta", "tasks.jsonl"));
        var episodes = info.IsV3 ? await ReadV3Async(root, info, ct) : ReadV2(root, info, tasks);
        if (episodes.Count == 0) throw new BadInputException($"{Path.Combine(root, "meta")}: lists no episodes.");
        return (episodes, tasks);
    }

    private static SortedDictionary<int, LeRobotEpisode> ReadV2(string root, LeRobotInfo info, Dictionary<int, string> tasks)
    {
        string path = Path.Combine(root, "meta", "episodes.jsonl");
        var episodes = new SortedDictionary<int, LeRobotEpisode>();
        foreach (var (line, row) in JsonLines(path))
        {
            int index = line.TryGetProperty("episode_index", out var i) && i.TryGetInt32(out int n) ? n : throw Bad(path, row, "episode_index");
            int length = line.TryGetProperty("length", out var l) && l.TryGetInt32(out int m) && m > 0 ? m : throw Bad(path, row, "length");
            var texts = line.TryGetProperty("tasks", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : tasks.GetValueOrDefault(x.TryGetInt32(out int k) ? k : -1, "")).ToList()
                : [];
            episodes[index] = new LeRobotEpisode(index, length, texts) { DataChunk = index / info.ChunksSize, DataFile = index };
        }
        return episodes;
    }

    private static Dictionary<int, string> ReadV2Tasks(string path)
    {
        var tasks = new Dictionary<int, string>();
        if (!File.Exists(path)) return tasks;
        foreach (var (line, _) in JsonLines(path))
            if (line.TryGetProperty("task_index", out var i) && i.TryGetInt32(out int n) && line.TryGetProperty("task", out var t) && t.ValueKind == JsonValueKind.String)
                tasks[n] = t.GetString()!;
        return tasks;
    }

    /// <summary>The objects of a JSON-lines file with their line numbers (1-based); a line that is not a JSON object is an error naming it.</summary>
    internal static IEnumerable<(JsonElement Line, int Number)> JsonLines(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path} is missing, so the dataset's episodes are unknown.");
        int number = 0;
        foreach (var text in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement line;
            try
            {
                using var doc = JsonDocument.Parse(text);
                line = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new BadInputException($"{path}, line {number}: not JSON ({e.Message.TrimEnd('.')}).", e);
            }
            if (line.ValueKind != JsonValueKind.Object) throw new BadInputException($"{path}, line {number}: not a JSON object.");
            yield return (line, number);
        }
    }

    private static BadInputException Bad(string path, int line, string key) => new($"{path}, line {line}: '{key}' is missing or not a positive integer.");

    private static async Task<SortedDictionary<int, LeRobotEpisode>> ReadV3Async(string root, LeRobotInfo info, CancellationToken ct)
    {
        string folder = Path.Combine(root, "meta", "episodes");
        if (!Directory.Exists(folder)) throw new BadInputException($"{folder} is missing, so the dataset's episodes are unknown.");
        var videoKeys = info.Features.Where(f => f.Dtype == "video").Select(f => f.Key).ToList();
        var episodes = new SortedDictionary<int, LeRobotEpisode>();
        foreach (var file in Directory.EnumerateFiles(folder, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            await using var reader = await ParquetColumns.OpenAsync(file, ct);
            var schema = reader.Schema;
            DataField Need(string name) => ParquetColumns.FindColumn(schema, [name])
                ?? throw new BadInputException($"{file}: column '{name}' is missing (columns: {string.Join(", ", schema.Fields.Select(f => f.Name))}).");
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                async Task<double[]> Numbers(string name) => await ParquetColumns.ReadNumbersAsync(group, Need(name), file, ct);
                var index = await Numbers("episode_index");
                var length = await Numbers("length");
                var chunk = await Numbers("data/chunk_index");
                var dataFile = await Numbers("data/file_index");
                var texts = ParquetColumns.FindColumn(schema, ["tasks"]) is { } taskField ? await ParquetColumns.ReadStringListsAsync(group, taskField, file, ct) : null;
                var spans = new Dictionary<string, (double[] Chunk, double[] File, double[] From, double[] To)>();
                foreach (var key in videoKeys)
                    spans[key] = (await Numbers($"videos/{key}/chunk_index"), await Numbers($"videos/{key}/file_index"),
                        await Numbers($"videos/{key}/from_timestamp"), await Numbers($"videos/{key}/to_timestamp"));
                for (int r = 0; r < index.Length; r++)
                {
                    int e = (int)index[r];
                    // Some v3.0 datasets have no 'tasks' column; their rows' task_index then names the task (read with the rows).
                    var episodeTasks = texts?[r] ?? [];
                    episodes[e] = new LeRobotEpisode(e, (int)length[r], episodeTasks)
                    {
                        DataChunk = (int)chunk[r],
                        DataFile = (int)dataFile[r],
                        Videos = spans.ToDictionary(s => s.Key, s => new VideoSpan((int)s.Value.Chunk[r], (int)s.Value.File[r], s.Value.From[r], s.Value.To[r])),
                    };
                }
            }
        }
        return episodes;
    }

    /// <summary>v3.0 <c>tasks.parquet</c>: <c>task_index</c> and the text as a <c>task</c> column or a pandas index (<c>__index_level_0__</c>).</summary>
    internal static async Task<Dictionary<int, string>> ReadV3TasksAsync(string path, CancellationToken ct)
    {
        var tasks = new Dictionary<int, string>();
        if (!File.Exists(path)) return tasks;
        await using var reader = await ParquetColumns.OpenAsync(path, ct);
        var index = ParquetColumns.FindColumn(reader.Schema, ["task_index"]) ?? throw new BadInputException($"{path}: column 'task_index' is missing.");
        var text = ParquetColumns.FindColumn(reader.Schema, ["task", "__index_level_0__"])
            ?? throw new BadInputException($"{path}: has no 'task' column (nor a '__index_level_0__' index) holding the task texts.");
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var indices = await ParquetColumns.ReadNumbersAsync(group, index, path, ct);
            var texts = await ParquetColumns.ReadStringListsAsync(group, text, path, ct);
            for (int r = 0; r < indices.Length; r++) tasks[(int)indices[r]] = texts[r].FirstOrDefault() ?? "";
        }
        return tasks;
    }
}
