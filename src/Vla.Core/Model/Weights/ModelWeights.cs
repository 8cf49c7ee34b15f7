using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model.Weights;

/// <summary>
/// Loads Hugging Face model folders: <c>config.json</c> plus <c>model.safetensors</c>, or shards listed in
/// <c>model.safetensors.index.json</c>. Every header is checked before any data is read, and all missing,
/// unexpected and wrongly shaped tensors are reported together, by name. Shards are streamed one tensor
/// at a time into the parameters, converting F32/BF16/F16 to the model dtype.
/// </summary>
public static class ModelWeights
{
    /// <summary>The safetensors files of a model folder, in shard order.</summary>
    public static List<string> Files(string modelDir)
    {
        if (!Directory.Exists(modelDir)) throw new BadInputException($"Model folder {modelDir} does not exist.");
        string single = Path.Combine(modelDir, "model.safetensors");
        string index = Path.Combine(modelDir, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            List<string> shards;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(index));
                shards = doc.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Value.GetString()!).Distinct().Order(StringComparer.Ordinal).ToList();
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new BadInputException($"{index}: not a safetensors index (it needs a 'weight_map' object).", e);
            }
            // Shard names come from the file: a folder part ("../x", "/etc/x") would open files outside the model folder.
            if (shards.FirstOrDefault(s => string.IsNullOrEmpty(s) || Path.GetFileName(s) != s || s is "." or "..") is string outside)
                throw new BadInputException($"{index} lists shard '{outside}', which is not a file name inside {modelDir}; shard names must not name folders.");
            var paths = shards.Select(s => Path.Combine(modelDir, s)).ToList();
            if (paths.FirstOrDefault(p => !File.Exists(p)) is string absent)
                throw new BadInputException($"{index} lists shard {Path.GetFileName(absent)}, which is not in {modelDir}.");
            return paths;
        }
        if (File.Exists(single)) return [single];
        throw new BadInputException($"{modelDir} has neither model.safetensors nor model.safetensors.index.json.");
    }

    /// <summary>Builds the backbone a model folder describes and loads its weights, in <paramref name="dtype"/>.</summary>
    public static PaliGemmaBackbone LoadBackbone(string modelDir, ScalarType dtype = ScalarType.Float32)
    {
        TorchRuntime.EnsureReady();
        var config = PaliGemmaConfig.Load(Path.Combine(modelDir, "config.json"));
        var model = new PaliGemmaBackbone(config, dtype, initialize: false); // every weight is loaded next
        Load(model, modelDir, HuggingFaceNames.ToParameterName);
        model.SourceFolder = Path.GetFullPath(modelDir);
        model.SourceHash = ContentHash(modelDir); // as loaded: a checkpoint refers to these weights, whatever the folder holds later
        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face folder (<c>config.json</c> and
    /// <c>model.safetensors</c> with the Hub's tensor names; LoRA adapters are not base weights and stay out), loadable by <see cref="LoadBackbone"/> and by transformers.
    /// </summary>
    public static void SaveBackbone(PaliGemmaBackbone model, string modelDir)
    {
        Directory.CreateDirectory(modelDir);
        File.WriteAllText(Path.Combine(modelDir, "config.json"), model.Config.ToJson());
        SafetensorsFile.Write(Path.Combine(modelDir, "model.safetensors"),
            model.named_parameters().Where(p => !LoraAdapters.IsAdapter(p.name)).Select(p => (HuggingFaceNames.ToHubName(p.name), (Tensor)p.parameter)),
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Loads the tensors of <paramref name="modelDir"/> into <paramref name="module"/>'s parameters,
    /// renaming each through <paramref name="rename"/> (null skips a tensor). With <paramref name="only"/>, just the
    /// parameters it accepts are expected (the rest keep their values); <paramref name="files"/> replaces the folder's own list.
    /// </summary>
    public static void Load(nn.Module module, string modelDir, Func<string, string?> rename, Func<string, bool>? only = null, IReadOnlyList<string>? files = null)
    {
        var parameters = module.named_parameters().Where(p => only?.Invoke(p.name) ?? true).ToDictionary(p => p.name, p => p.parameter);
        var opened = (files ?? Files(modelDir)).Select(SafetensorsFile.Open).ToList();
        var plan = new List<(SafetensorsFile File, SafetensorsFile.Entry Entry, Tensor Target)>();
        var problems = new List<string>();
        var loaded = new HashSet<string>();
        foreach (var file in opened)
        {
            foreach (var entry in file.Entries)
            {
                string? name = rename(entry.Name);
                if (name is null)
                {
                    CheckTied(entry, parameters, problems);
                    continue;
                }
                if (!parameters.TryGetValue(name, out var target))
                    problems.Add($"unexpected tensor '{entry.Name}' in {Path.GetFileName(file.Path)}");
                else if (!target.shape.SequenceEqual(entry.Shape))
                    problems.Add($"tensor '{entry.Name}' has shape [{string.Join(", ", entry.Shape)}] but the model expects [{string.Join(", ", target.shape)}]");
                else if (!loaded.Add(name))
                    problems.Add($"tensor '{entry.Name}' appears twice");
                else plan.Add((file, entry, target));
            }
        }
        foreach (var (name, p) in parameters.Where(p => !loaded.Contains(p.Key)))
            problems.Add($"missing tensor '{name}' (shape [{string.Join(", ", p.shape)}])");
        if (problems.Count > 0)
            throw new BadInputException($"{modelDir}: the weights do not fit the model: {string.Join("; ", problems)}.");

        using var noGrad = no_grad();
        foreach (var (file, entry, target) in plan) file.CopyInto(entry, target);
    }

    private static void CheckTied(SafetensorsFile.Entry entry, Dictionary<string, TorchSharp.Modules.Parameter> parameters, List<string> problems)
    {
        if (!HuggingFaceNames.TiedOutputNames.Contains(entry.Name)) return;
        if (parameters.TryGetValue("language_model.embed_tokens.weight", out var embed) && !embed.shape.SequenceEqual(entry.Shape))
            problems.Add($"tensor '{entry.Name}' has shape [{string.Join(", ", entry.Shape)}] but the tied embedding is [{string.Join(", ", embed.shape)}]");
    }

    /// <summary>
    /// What identifies a model folder's contents, cheaply: SHA-256 (hex) of its <c>config.json</c> plus its safetensors index,
    /// or its single file's header (every tensor's name, dtype, shape and byte range).
    /// </summary>
    public static string ContentHash(string modelDir)
    {
        string config = System.IO.Path.Combine(modelDir, "config.json");
        if (!File.Exists(config)) throw new BadInputException($"{config} is missing: {modelDir} is not a model folder.");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(File.ReadAllBytes(config));
        string index = System.IO.Path.Combine(modelDir, "model.safetensors.index.json");
        if (File.Exists(index)) sha.AppendData(File.ReadAllBytes(index));
        else sha.AppendData(SafetensorsFile.ReadHeader(Files(modelDir)[0]).Header);
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
