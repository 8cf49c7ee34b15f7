using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Vla.Model.Weights;
using Vla.Runtime;

namespace Vla.Checkpoints;

/// <summary>
/// A checkpoint's pointer to the frozen base model it was trained on (<c>base_model.json</c>), instead of a copy of
/// its weights: the folder (absolute, or relative to the checkpoint) and a SHA-256 of what identifies its contents,
/// its <c>config.json</c> plus the safetensors index (or the single file's header, which lists every tensor's
/// dtype, shape and byte range). Hashing headers rather than gigabytes of data keeps a load fast; a folder whose
/// config or tensor layout changed is refused.
/// </summary>
public sealed record BaseModelReference
{
    /// <summary>The base model folder as recorded.</summary>
    [JsonPropertyName("path")] public required string Path { get; init; }
    /// <summary>SHA-256 (hex) of config.json and the index or safetensors header.</summary>
    [JsonPropertyName("content_sha256")] public required string ContentSha256 { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>A reference to <paramref name="modelDir"/> as it is now, recorded as <paramref name="recordedPath"/>.</summary>
    public static BaseModelReference To(string modelDir, string? recordedPath = null) =>
        new() { Path = recordedPath ?? System.IO.Path.GetFullPath(modelDir), ContentSha256 = Hash(modelDir) };

    /// <summary>Writes <c>base_model.json</c> into <paramref name="checkpointDir"/>.</summary>
    public void Write(string checkpointDir) =>
        File.WriteAllText(System.IO.Path.Combine(checkpointDir, CheckpointFiles.BaseModel), JsonSerializer.Serialize(this, Json));

    /// <summary>The reference in <paramref name="checkpointDir"/>, or null for a self-contained checkpoint.</summary>
    public static BaseModelReference? Read(string checkpointDir)
    {
        string file = System.IO.Path.Combine(checkpointDir, CheckpointFiles.BaseModel);
        if (!File.Exists(file)) return null;
        try
        {
            return JsonSerializer.Deserialize<BaseModelReference>(File.ReadAllText(file), Json) ?? throw new BadInputException($"{file} is empty.");
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
        string file = System.IO.Path.Combine(checkpointDir, CheckpointFiles.BaseModel);
        if (!Directory.Exists(folder))
            throw new BadInputException($"{file} names the base model {folder}, which does not exist: the checkpoint holds only what trained; put the base model back there or export a self-contained copy with 'vla export'.");
        string actual = Hash(folder);
        if (!string.Equals(actual, ContentSha256, StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"The base model {folder} has changed since {checkpointDir} was saved (its config or weight index differs from the one {file} records); the adapters and head were trained on the other one.");
        return folder;
    }

    /// <summary>SHA-256 of a model folder's config.json and its safetensors index, or its single file's header.</summary>
    public static string Hash(string modelDir)
    {
        string config = System.IO.Path.Combine(modelDir, "config.json");
        if (!File.Exists(config)) throw new BadInputException($"{config} is missing: {modelDir} is not a model folder.");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(File.ReadAllBytes(config));
        string index = System.IO.Path.Combine(modelDir, "model.safetensors.index.json");
        if (File.Exists(index)) sha.AppendData(File.ReadAllBytes(index));
        else sha.AppendData(SafetensorsHeader(ModelWeights.Files(modelDir)[0]));
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static byte[] SafetensorsHeader(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        stream.ReadExactly(length);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(length);
        if (n <= 0 || n > 100_000_000 || n + 8 > stream.Length) throw new BadInputException($"{path}: not a safetensors file (header length {n}).");
        var header = new byte[n];
        stream.ReadExactly(header);
        return header;
    }
}
