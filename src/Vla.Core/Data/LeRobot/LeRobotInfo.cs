using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Vla.Runtime;

namespace Vla.Data.LeRobot;

/// <summary>One entry of <c>info.json</c>'s <c>features</c>.</summary>
/// <param name="Key">The feature's key (<c>observation.state</c>, <c>observation.images.cam_high</c>).</param>
/// <param name="Dtype"><c>float32</c>, <c>video</c>, <c>image</c>, …</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Names">Names of a vector's dimensions when the dataset gives them.</param>
public sealed record LeRobotFeature(string Key, string Dtype, int[] Shape, IReadOnlyList<string>? Names)
{
    /// <summary>A camera: decoded from video or stored as image bytes.</summary>
    public bool IsVisual => Dtype is "video" or "image";
}

/// <summary>A LeRobot dataset's <c>meta/info.json</c>: version, frame rate, path templates and features.</summary>
public sealed partial record LeRobotInfo
{
    /// <summary>The file it was read from.</summary>
    public required string Path { get; init; }
    /// <summary><c>v2.0</c>, <c>v2.1</c>, <c>v3.0</c>.</summary>
    public required string Version { get; init; }
    /// <summary>Frames per second of the rows and videos.</summary>
    public required double Fps { get; init; }
    /// <summary>Template of the data files' paths (<c>data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet</c>).</summary>
    public required string DataPath { get; init; }
    /// <summary>Template of the video files' paths, or null without video.</summary>
    public string? VideoPath { get; init; }
    /// <summary>Episodes per chunk folder (v2.x: the chunk of episode e is e / chunks_size).</summary>
    public int ChunksSize { get; init; } = 1000;
    /// <summary>Episodes the whole dataset has.</summary>
    public int TotalEpisodes { get; init; }
    /// <summary>The features in file order.</summary>
    public required IReadOnlyList<LeRobotFeature> Features { get; init; }

    /// <summary>True for v3.0 and later (many episodes per file, <c>meta/episodes/</c> as Parquet).</summary>
    public bool IsV3 => !Version.StartsWith("v2", StringComparison.Ordinal) && !Version.StartsWith("v1", StringComparison.Ordinal);

    /// <summary>The feature <paramref name="key"/>, or an error naming the closest feature; <paramref name="setting"/> names where the key came from.</summary>
    public LeRobotFeature Feature(string key, string setting)
    {
        if (Features.FirstOrDefault(f => f.Key == key) is { } feature) return feature;
        string? hint = Config.ConfigLoader.Suggest(key, Features.Select(f => f.Key));
        throw new BadInputException($"{Path}: {setting} '{key}' is not a feature of this dataset" +
            (hint is not null ? $"; did you mean '{hint}'?" : $" (features: {string.Join(", ", Features.Select(f => f.Key))})."));
    }

    /// <summary>Reads <paramref name="path"/>.</summary>
    public static LeRobotInfo Load(string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{path}: not JSON ({e.Message.TrimEnd('.')}).", e);
        }
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("features", out var features) || features.ValueKind != JsonValueKind.Object)
            throw new BadInputException($"{path}: has no 'features' map, so it does not describe a LeRobot dataset.");
        string Text(string key, string? fallback = null) =>
            root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! :
            fallback ?? throw new BadInputException($"{path}: '{key}' is missing.");
        int Int(string key, int fallback) => root.TryGetProperty(key, out var v) && v.TryGetInt32(out int i) ? i : fallback;

        string version = Text("codebase_version", "v2.1");
        bool v3 = !version.StartsWith("v2", StringComparison.Ordinal) && !version.StartsWith("v1", StringComparison.Ordinal);
        var list = new List<LeRobotFeature>();
        foreach (var f in features.EnumerateObject())
        {
            if (f.Value.ValueKind != JsonValueKind.Object || !f.Value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String)
                throw new BadInputException($"{path}: feature '{f.Name}' has no 'dtype'.");
            int[] shape = f.Value.TryGetProperty("shape", out var s) && s.ValueKind == JsonValueKind.Array
                ? s.EnumerateArray().Select(x => x.TryGetInt32(out int n) ? n : 0).ToArray() : [];
            list.Add(new LeRobotFeature(f.Name, dtype.GetString()!, shape, f.Value.TryGetProperty("names", out var names) ? ReadNames(names) : null));
        }
        return new LeRobotInfo
        {
            Path = path,
            Version = version,
            Fps = root.TryGetProperty("fps", out var fps) && fps.TryGetDouble(out double rate) && rate > 0 ? rate
                : throw new BadInputException($"{path}: 'fps' is missing or not a positive number."),
            DataPath = Text("data_path", v3 ? "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet" : "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"),
            VideoPath = root.TryGetProperty("video_path", out var vp) && vp.ValueKind == JsonValueKind.String ? vp.GetString() : null,
            ChunksSize = Int("chunks_size", 1000),
            TotalEpisodes = Int("total_episodes", 0),
            Features = list,
        };
    }

    /// <summary>
    /// A vector's dimension names in the forms datasets use: a flat list, a list holding one list (<c>[[…]]</c>),
    /// a map holding one list (<c>{"motors": […]}</c>), or a map of name to index; null otherwise.
    /// </summary>
    private static List<string>? ReadNames(JsonElement names)
    {
        static List<string>? Flat(JsonElement e) =>
            e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
                ? e.EnumerateArray().Select(x => x.GetString()!).ToList() : null;
        if (Flat(names) is { } flat) return flat;
        if (names.ValueKind == JsonValueKind.Array && names.GetArrayLength() == 1) return Flat(names[0]);
        if (names.ValueKind == JsonValueKind.Object)
        {
            var members = names.EnumerateObject().ToList();
            if (members.Count == 1 && Flat(members[0].Value) is { } inner) return inner;
            if (members.Count > 0 && members.All(m => m.Value.ValueKind == JsonValueKind.Number))
                return members.OrderBy(m => m.Value.GetDouble()).Select(m => m.Name).ToList();
        }
        return null;
    }

    /// <summary>Fills a path template (Python format fields such as <c>{episode_index:06d}</c> or <c>{video_key}</c>).</summary>
    public static string Format(string template, IReadOnlyDictionary<string, object> values) =>
        Field().Replace(template, m =>
        {
            string name = m.Groups[1].Value;
            if (!values.TryGetValue(name, out var value)) throw new BadInputException($"info.json path template '{template}' uses '{{{name}}}', which this reader does not know.");
            if (value is int number && m.Groups[2].Success)
            {
                string spec = m.Groups[2].Value; // e.g. 06d
                int width = int.Parse(spec.TrimEnd('d').TrimStart('0') is { Length: > 0 } w ? w : "0", CultureInfo.InvariantCulture);
                return number.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0');
            }
            return Convert.ToString(value, CultureInfo.InvariantCulture)!;
        });

    [GeneratedRegex(@"\{(\w+)(?::([0-9]*d))?\}")]
    private static partial Regex Field();
}
