using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Runtime;

namespace Vla.Model;

/// <summary>Typed reads of optional keys of a Hugging Face <c>config.json</c>, with errors that name the key.</summary>
internal static class ConfigJsonKeys
{
    public static int Int(JsonObject json, string key, int fallback) => Read(json, key, fallback, n => n.GetValue<int>());

    public static double Double(JsonObject json, string key, double fallback) => Read(json, key, fallback, n => n.GetValue<double>());

    private static T Read<T>(JsonObject json, string key, T fallback, Func<JsonNode, T> read)
    {
        if (!json.TryGetPropertyValue(key, out var node) || node is null) return fallback;
        try
        {
            return read(node);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or JsonException)
        {
            throw new BadInputException($"config.json key '{key}' should be a {typeof(T).Name.ToLowerInvariant()}, found {node.ToJsonString()}.", e);
        }
    }
}
