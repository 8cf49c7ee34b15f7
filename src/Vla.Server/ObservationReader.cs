using Vla.Client;
using Vla.Inference;
using Vla.Runtime;
using YamlDotNet.RepresentationModel;

namespace Vla.Server;

/// <summary>Where an observation's parts are in a request: wire key paths (a '/' walks into nested maps when no key holds it whole).</summary>
/// <param name="Name">The layout's name, for metadata and errors.</param>
/// <param name="Camera1">Main camera.</param>
/// <param name="Camera2">Wrist camera.</param>
/// <param name="State">State parts, concatenated in this order.</param>
/// <param name="Prompt">The instruction.</param>
public sealed record ObservationLayout(string Name, string Camera1, string Camera2, IReadOnlyList<string> State, string Prompt)
{
    /// <summary>Cameras 3, 4, … for policies that read more than two (released pi0 reads three).</summary>
    public IReadOnlyList<string> MoreCameras { get; init; } = [];

    /// <summary>The key of camera <paramref name="index"/> (0 is the main camera), or null when the layout has none.</summary>
    public string? Camera(int index) => index switch { 0 => Camera1, 1 => Camera2, _ => index - 2 < MoreCameras.Count ? MoreCameras[index - 2] : null };

    /// <summary>Ours: <c>image_1</c>, <c>image_2</c> (… <c>image_6</c>), <c>state</c>, <c>prompt</c>.</summary>
    public static readonly ObservationLayout Vla = new("vla", "image_1", "image_2", ["state"], "prompt") { MoreCameras = ["image_3", "image_4", "image_5", "image_6"] };

    /// <summary>openpi's LIBERO client: <c>observation/image</c>, <c>observation/wrist_image</c>, <c>observation/state</c>.</summary>
    public static readonly ObservationLayout Libero = new("libero", "observation/image", "observation/wrist_image", ["observation/state"], "prompt");

    /// <summary>openpi's DROID client: the left exterior and wrist cameras, joint positions then gripper position.</summary>
    public static readonly ObservationLayout Droid = new("droid", "observation/exterior_image_1_left", "observation/wrist_image_left",
        ["observation/joint_position", "observation/gripper_position"], "prompt");

    /// <summary>openpi's ALOHA client: <c>images</c> holds CHW frames by camera (the high camera is the main one, the left wrist the second).</summary>
    public static readonly ObservationLayout Aloha = new("aloha", "images/cam_high", "images/cam_left_wrist", ["state"], "prompt") { MoreCameras = ["images/cam_right_wrist"] };

    /// <summary>The layouts recognised without an observation map, tried in this order by their main camera key.</summary>
    public static readonly IReadOnlyList<ObservationLayout> Known = [Vla, Libero, Droid, Aloha];

    /// <summary>
    /// Reads an observation map, a YAML file: a map from wire key to role (<c>image_1</c>, <c>image_2</c>, … <c>image_6</c>, <c>state</c>, <c>prompt</c>);
    /// several keys mapped to <c>state</c> are concatenated in the file's order.
    /// </summary>
    public static ObservationLayout FromYaml(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"Observation map {path} does not exist.");
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new BadInputException($"{path} is not YAML ({e.Message}).");
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode map)
            throw new BadInputException($"{path} must be a map from observation key to image_1, image_2, state or prompt.");
        string? camera1 = null, camera2 = null, prompt = null;
        var more = new SortedDictionary<int, string>();
        var state = new List<string>();
        foreach (var (keyNode, valueNode) in map.Children)
        {
            string key = ((YamlScalarNode)keyNode).Value ?? "";
            string role = (valueNode as YamlScalarNode)?.Value ?? "";
            switch (role)
            {
                case "image_1": camera1 = key; break;
                case "image_2": camera2 = key; break;
                case "state": state.Add(key); break;
                case "prompt": prompt = key; break;
                case "image_3" or "image_4" or "image_5" or "image_6": more[role[^1] - '0'] = key; break;
                default: throw new BadInputException($"{path}: key '{key}' maps to '{role}'; use image_1 … image_6, state or prompt.");
            }
        }
        if (camera1 is null) throw new BadInputException($"{path} maps no key to image_1 (the main camera).");
        if (more.Count > 0 && more.Keys.Max() - 2 != more.Count)
            throw new BadInputException($"{path} maps image_{more.Keys.Max()} but not every camera before it.");
        return new ObservationLayout(Path.GetFileName(path), camera1, camera2 ?? "image_2", state.Count == 0 ? ["state"] : state, prompt ?? "prompt") { MoreCameras = [.. more.Values] };
    }
}

/// <summary>A request read from the wire: the observation and, when it carries <c>prev_chunk</c>, real-time chunking.</summary>
public sealed record PolicyRequest(RobotObservation Observation, RtcRequest? Rtc);

/// <summary>
/// Turns an openpi-style observation map into a <see cref="RobotObservation"/>: images as uint8 HWC or CHW arrays, float arrays
/// in [0, 1] or encoded PNG/JPEG bytes, the state as arrays or numbers, the prompt as a string. Every error names the key.
/// </summary>
/// <param name="StateDim">State values the policy expects (0: the policy takes no state).</param>
/// <param name="Cameras">Cameras the policy reads.</param>
/// <param name="MasksMissing">Whether cameras after the main one may be missing (the policy masks them out).</param>
/// <param name="ActionDim">Values per action (prev_chunk's rows).</param>
/// <param name="Horizon">Steps per chunk (prev_chunk is checked against it).</param>
/// <param name="Layout">Fixed layout (an observation map), or null to recognise <see cref="ObservationLayout.Known"/> by their main camera key.</param>
public sealed record ObservationReader(int StateDim, int Cameras, bool MasksMissing, int ActionDim, int Horizon, ObservationLayout? Layout = null)
{
    /// <summary>Largest image side accepted from the wire.</summary>
    public const int MaxSide = 4096;

    /// <summary>The layout <paramref name="message"/> uses.</summary>
    public ObservationLayout LayoutOf(IReadOnlyDictionary<string, object?> message) =>
        Layout ?? ObservationLayout.Known.FirstOrDefault(l => Find(message, l.Camera1) is not null)
        ?? throw new BadInputException(
            $"The observation has no camera under any known key ({string.Join(", ", ObservationLayout.Known.Select(l => l.Camera1))}); its keys are " +
            $"{string.Join(", ", message.Keys.Take(12))}; the server can be given an observation map (ServerOptions.Layout) that names yours.");

    /// <summary>Reads one request.</summary>
    public PolicyRequest Read(IReadOnlyDictionary<string, object?> message)
    {
        var layout = LayoutOf(message);
        var cameras = Enumerable.Range(0, Cameras).Select(c => CameraOf(message, layout, c)).ToList();
        float[]? state = null;
        if (StateDim > 0)
        {
            var parts = layout.State.Select(key => (key, values: Numbers(Find(message, key), key, "the robot state"))).ToList();
            state = parts.SelectMany(p => p.values).ToArray();
            if (state.Length != StateDim)
                throw new BadInputException($"{string.Join(" + ", parts.Select(p => $"{p.key} ({p.values.Length})"))} holds {state.Length} state values; the policy expects {StateDim} (state_dim).");
            if (state.Any(v => !float.IsFinite(v))) throw new BadInputException($"{string.Join(" + ", layout.State)} contains NaN or infinite values.");
        }
        string prompt = Find(message, layout.Prompt) switch
        {
            string s when !string.IsNullOrWhiteSpace(s) => s,
            byte[] b => System.Text.Encoding.UTF8.GetString(b),
            null => throw new BadInputException($"The observation has no '{layout.Prompt}': the policy needs the instruction as a string."),
            var other => throw new BadInputException($"'{layout.Prompt}' is {Describe(other)}, not the instruction as a non-empty string."),
        };
        var observation = new RobotObservation([cameras[0]!], cameras.Count > 1 && cameras[1] is { } wrist ? [wrist] : null, prompt, state)
        {
            MoreCameras = cameras.Skip(2).Select(c => c is null ? (IReadOnlyList<CameraFrame>)[] : [c]).ToList(),
        };
        return new PolicyRequest(observation, Rtc(message));
    }

    /// <summary>Camera <paramref name="index"/>'s image, or null for one a masking policy may go without.</summary>
    private CameraFrame? CameraOf(IReadOnlyDictionary<string, object?> message, ObservationLayout layout, int index)
    {
        string? key = layout.Camera(index);
        if (index > 0 && MasksMissing && (key is null || Find(message, key) is null)) return null;
        if (key is null)
            throw new BadInputException($"The policy reads {Cameras} cameras, and the '{layout.Name}' layout names only {index}; an observation map can name image_{index + 1}.");
        return Image(message, key);
    }

    private RtcRequest? Rtc(IReadOnlyDictionary<string, object?> message)
    {
        var previous = Find(message, "prev_chunk");
        var delay = Find(message, "inference_delay");
        if (previous is null)
        {
            if (delay is not null) throw new BadInputException("inference_delay came without prev_chunk: real-time chunking needs the previous chunk's remaining actions.");
            return null;
        }
        if (previous is NdArray { Shape.Length: 2 } array && array.Shape[1] != ActionDim)
            throw new BadInputException($"prev_chunk has shape ({string.Join(", ", array.Shape)}); rows must have {ActionDim} values (per_action_dim).");
        var values = Numbers(previous, "prev_chunk", "the previous chunk's remaining actions");
        int steps = delay switch
        {
            null => throw new BadInputException("prev_chunk came without inference_delay (the steps the robot runs before the new chunk arrives)."),
            long n and >= 0 and <= int.MaxValue => (int)n,
            var other => throw new BadInputException($"inference_delay is {Describe(other)}, not a step count."),
        };
        int? horizon = Find(message, "execution_horizon") switch
        {
            null => null,
            long n and >= 0 and <= int.MaxValue => (int)n,
            var other => throw new BadInputException($"execution_horizon is {Describe(other)}, not a step count."),
        };
        var request = new RtcRequest(values, steps, horizon);
        request.Validate(Horizon, ActionDim, "This request");
        return request;
    }

    /// <summary>The value at <paramref name="key"/>: a whole key first, else a path through nested maps.</summary>
    public static object? Find(IReadOnlyDictionary<string, object?> message, string key)
    {
        if (message.TryGetValue(key, out var whole)) return whole;
        int slash = key.IndexOf('/');
        if (slash <= 0) return null;
        return message.GetValueOrDefault(key[..slash]) is IReadOnlyDictionary<string, object?> inner ? Find(inner, key[(slash + 1)..]) : null;
    }

    private static CameraFrame Image(IReadOnlyDictionary<string, object?> message, string key)
    {
        switch (Find(message, key))
        {
            case null:
                throw new BadInputException($"The observation has no '{key}': the policy needs this camera's image.");
            case byte[] encoded:
                if (SixLabors.ImageSharp.Image.DetectFormat(encoded) is null)
                    throw new BadInputException($"'{key}' holds {encoded.Length} bytes that are not a PNG or JPEG image; send uint8 pixels or an encoded image.");
                return encoded;
            case NdArray array:
            {
                var shape = array.Shape;
                bool chw = shape.Length == 3 && shape[0] == 3 && shape[2] != 3;
                bool hwc = shape.Length == 3 && shape[2] == 3;
                if (!chw && !hwc)
                    throw new BadInputException($"'{key}' is an array of shape ({string.Join(", ", shape)}); an image is (height, width, 3) or (3, height, width).");
                int height = chw ? shape[1] : shape[0], width = chw ? shape[2] : shape[1];
                if (height < 1 || width < 1 || height > MaxSide || width > MaxSide)
                    throw new BadInputException($"'{key}' is {width}×{height}; images must be 1 to {MaxSide} pixels a side.");
                byte[] pixels = array.Dtype switch
                {
                    "|u1" or "<u1" or ">u1" => array.Data,
                    _ when array.Dtype.Length >= 2 && array.Dtype[1] == 'f' => UnitFloatsToBytes(array, key),
                    _ => throw new BadInputException($"'{key}' has dtype {array.Dtype}; images are uint8 (0–255) or float in [0, 1]."),
                };
                return chw ? RgbFrame.FromChannelsFirst(pixels, height, width) : new RgbFrame(pixels, height, width);
            }
            case var other:
                throw new BadInputException($"'{key}' is {Describe(other)}; an image is a uint8 or float array, or PNG/JPEG bytes.");
        }
    }

    private static byte[] UnitFloatsToBytes(NdArray array, string key)
    {
        var floats = array.ToFloats();
        var bytes = new byte[floats.Length];
        for (int i = 0; i < floats.Length; i++)
        {
            float v = floats[i];
            if (!(v >= -1e-3f && v <= 1.001f))
                throw new BadInputException($"'{key}' is a float image with value {v} at element {i}; float images must lie in [0, 1] (or send uint8).");
            bytes[i] = (byte)Math.Clamp(MathF.Round(v * 255f), 0, 255);
        }
        return bytes;
    }

    private static float[] Numbers(object? value, string key, string what)
    {
        try
        {
            return value switch
            {
                null => throw new BadInputException($"The observation has no '{key}' ({what})."),
                NdArray array => array.ToFloats(),
                double d => [(float)d],
                float f => [f],
                long l => [l],
                List<object?> list => list.Select(item => item switch
                {
                    double d => (float)d,
                    float f => f,
                    long l => (float)l,
                    _ => throw new BadInputException($"'{key}' is a list holding {Describe(item)}; {what} must be numbers."),
                }).ToArray(),
                var other => throw new BadInputException($"'{key}' is {Describe(other)}; {what} must be a number array."),
            };
        }
        catch (FormatException e)
        {
            throw new BadInputException($"'{key}': {e.Message.TrimEnd('.')} ({what}).");
        }
    }

    private static string Describe(object? value) => value switch
    {
        null => "nil",
        string => "a string",
        byte[] b => $"{b.Length} raw bytes",
        NdArray a => $"a {a.Dtype} array of shape ({string.Join(", ", a.Shape)})",
        IReadOnlyDictionary<string, object?> => "a map",
        List<object?> => "a list",
        bool => "a boolean",
        _ => $"a number ({value})",
    };
}
