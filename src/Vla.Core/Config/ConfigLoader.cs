using System.Reflection;
using Vla.Runtime;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Vla.Config;

/// <summary>
/// Reads a YAML run configuration into <see cref="VlaConfig"/>. Keys are the seed's snake_case names;
/// a key the records do not know is an error naming it, its line and the closest valid key, because a
/// misspelt key silently falling back to a default is the costliest kind of config bug.
/// </summary>
public static class ConfigLoader
{
    private static readonly INamingConvention Naming = UnderscoredNamingConvention.Instance;

    /// <summary>Loads and parses <paramref name="path"/>; throws <see cref="BadInputException"/> naming the file, line and key at fault.</summary>
    public static VlaConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new BadInputException($"Config file {path} does not exist.");
        var config = Parse(File.ReadAllText(path), path);
        return config with { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path)) };
    }

    /// <summary>Parses YAML text; <paramref name="source"/> names it in error messages.</summary>
    public static VlaConfig Parse(string yaml, string source = "<config>")
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new BadInputException($"{source} line {e.Start.Line}: invalid YAML ({Inner(e).Message}).", e);
        }
        if (stream.Documents.Count == 0) return new VlaConfig();
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new BadInputException($"{source}: the top level must be a mapping of sections (data, model, training, optimizer, lr_scheduler).");

        var problems = new List<string>();
        CheckKeys(root, typeof(VlaConfig), "", source, problems);
        if (problems.Count > 0) throw new BadInputException(string.Join(Environment.NewLine, problems));

        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(Naming)
            .WithTypeConverter(new StringListConverter())
            .Build();
        try
        {
            return deserializer.Deserialize<VlaConfig?>(yaml) ?? new VlaConfig();
        }
        catch (YamlException e)
        {
            throw new BadInputException($"{source} line {e.Start.Line}: {Inner(e).Message.TrimEnd('.')}.", e);
        }
    }

    /// <summary>The YAML key a property is read from.</summary>
    internal static string KeyOf(PropertyInfo property) =>
        property.GetCustomAttribute<YamlMemberAttribute>()?.Alias ?? Naming.Apply(property.Name);

    /// <summary>The keys a config record accepts, by key.</summary>
    internal static Dictionary<string, PropertyInfo> KeysOf(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetCustomAttribute<YamlIgnoreAttribute>() is null)
            .ToDictionary(KeyOf);

    private static void CheckKeys(YamlMappingNode node, Type type, string prefix, string source, List<string> problems)
    {
        var known = KeysOf(type);
        foreach (var (keyNode, valueNode) in node.Children)
        {
            string key = ((YamlScalarNode)keyNode).Value ?? "";
            if (!known.TryGetValue(key, out var property))
            {
                string? hint = Suggest(key, known.Keys);
                problems.Add($"{source} line {keyNode.Start.Line}: unknown key '{prefix}{key}'" +
                    (hint is null ? $" (valid keys here: {string.Join(", ", known.Keys)})." : $"; did you mean '{prefix}{hint}'?"));
                continue;
            }
            if (property.PropertyType.Namespace == typeof(VlaConfig).Namespace && property.PropertyType.IsClass)
            {
                if (valueNode is YamlMappingNode child)
                    CheckKeys(child, property.PropertyType, $"{prefix}{key}.", source, problems);
                else if (!(valueNode is YamlScalarNode { Value: null or "" or "~" or "null" }))
                    problems.Add($"{source} line {valueNode.Start.Line}: '{prefix}{key}' must be a mapping of keys.");
            }
        }
    }

    /// <summary>The closest of <paramref name="candidates"/> to <paramref name="key"/>, when close enough to be a likely typo.</summary>
    internal static string? Suggest(string key, IEnumerable<string> candidates)
    {
        string lower = key.ToLowerInvariant().Replace('-', '_');
        var best = candidates
            .Select(c => (Key: c, Distance: Levenshtein(lower, c.ToLowerInvariant())))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        return best.Key is not null && best.Distance <= Math.Max(2, best.Key.Length / 3) ? best.Key : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static Exception Inner(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
