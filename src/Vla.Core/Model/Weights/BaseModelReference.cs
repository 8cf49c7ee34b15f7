using System.Text.Json;
using System.Text.Json.Serialization;
using Vla.Runtime;

namespace Vla.Model.Weights;

/// <summary>
/// A checkpoint's pointer to the frozen base model it was trained on (<c>base_model.json</c>), instead of a copy of
/// its weights: the folder (absolute, or relative to the checkpoint) and <see cref="ModelWeights.ContentHash"/> of it as
/// it was loaded. A folder that is gone, or whose config or tensor layout changed, is refused. The hash covers
/// headers, not gigabytes of data, so a load stays fast; other weights in the very same layout (another fine-tune
/// of the same model put in its place) are not detected.
/// </summary>
public sealed record BaseModelReference
{
    /// <summary>The base model folder as recorded.</summary>
    [JsonPropertyName("path")] public required string Path { get; init; }
    /// <summary>SHA-256 (hex) of config.json and the index or safetensors header.</summary>
    [JsonPropertyName("content_sha256")] public required string ContentSha256 { get; init; }

    /// <summary>The reference's file in a checkpoint folder.</summary>
    public const string FileName = "base_model.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>A reference to <paramref name="modelDir"/> as it is now, recorded as <paramref name="recordedPath"/>.</summary>
    public static BaseModelReference To(string modelDir, string? recordedPath = null) =>
        new() { Path = recordedPath ?? System.IO.Path.GetFullPath(modelDir), ContentSha256 = ModelWeights.ContentHash(modelDir) };

    /// <summary>Writes <c>base_model.json</c> into <paramref name="checkpointDir"/>.</summary>
    public void Write(string checkpointDir) =>
        File.WriteAllText(System.IO.Path.Combine(checkpointDir, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>The reference in <paramref name="checkpointDir"/>, or null for a self-contained checkpoint.</summary>
    public static BaseModelReference? Read(string checkpointDir)
    {
        string file = System.IO.Path.Combine(checkpointDir, FileName);
        if (!File.Exists(file)) return null;
        try
        {
            var reference = JsonSerializer.Deserialize<BaseModelReference>(File.ReadAllText(file), Json) ?? throw new BadInputException($"{file} is empty.");
            if (string.IsNullOrEmpty(reference.Path) || string.IsNullOrEmpty(reference.ContentSha256))
                throw new BadInputException($"{file} needs both 'path' and 'content_sha256'.");
            return reference;
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{file}: not a base model reference ({e.Message.TrimEnd('.')}).", e);
        }
    }

    /// <summary>
    /// The base folder for a checkpoint in <paramref name="checkpointDir"/>, after checking it exists and still has the
    /// recorded contents; otherwise a <see cref="BadInputException"/> naming it.
    /// </summary>
    public string Resolve(string checkpointDir)
    {
        string folder = System.IO.Path.GetFullPath(System.IO.Path.Combine(checkpointDir, Path));
        string file = System.IO.Path.Combine(checkpointDir, FileName);
        if (!Directory.Exists(folder))
            throw new BadInputException($"{file} names the base model {folder}, which does not exist: the checkpoint holds only what trained; put the base model back there or export a self-contained copy with 'vla export'.");
        string actual = ModelWeights.ContentHash(folder);
        if (!string.Equals(actual, ContentSha256, StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"The base model {folder} has changed since {checkpointDir} was saved (its config or weight index differs from the one {file} records); the adapters and head were trained on the other one.");
        return folder;
    }
}
