using System.Collections;
using System.Reflection;

namespace Vla.Config;

/// <summary>
/// The config key a property of a derived record comes from, so a comparison can name it (<see cref="ConfigKeys.Differences"/>).
/// <see cref="Unordered"/> compares a list as a set.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ConfigKeyAttribute(string key) : Attribute
{
    /// <summary>The key, as a config file spells it (<c>model.action_head_config.horizon</c>).</summary>
    public string Key { get; } = key;

    /// <summary>The value is a list whose order carries no meaning.</summary>
    public bool Unordered { get; init; }
}

/// <summary>Compares records whose properties carry <see cref="ConfigKeyAttribute"/>s, key by key.</summary>
public static class ConfigKeys
{
    /// <summary>Every keyed property of <paramref name="a"/> and <paramref name="b"/> whose values differ: key and both values, in declaration order.</summary>
    public static List<(string Key, object? A, object? B)> Differences<T>(T a, T b) where T : class
    {
        var differences = new List<(string, object?, object?)>();
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetCustomAttribute<ConfigKeyAttribute>() is not { } key) continue;
            object? x = property.GetValue(a), y = property.GetValue(b);
            if (!Same(x, y, key.Unordered)) differences.Add((key.Key, Show(x), Show(y)));
        }
        return differences;
    }

    /// <summary>A hash over the keyed properties, consistent with <see cref="Differences"/> finding none.</summary>
    public static int Hash<T>(T value) where T : class
    {
        var hash = new HashCode();
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (property.GetCustomAttribute<ConfigKeyAttribute>() is not null && property.GetValue(value) is { } v and not IEnumerable) hash.Add(v);
        return hash.ToHashCode();
    }

    private static bool Same(object? x, object? y, bool unordered)
    {
        if (x is string || y is string || x is not IEnumerable xs || y is not IEnumerable ys) return Equals(x, y);
        var left = xs.Cast<object?>().Select(v => v?.ToString() ?? "");
        var right = ys.Cast<object?>().Select(v => v?.ToString() ?? "");
        return unordered ? left.Order(StringComparer.Ordinal).SequenceEqual(right.Order(StringComparer.Ordinal)) : left.SequenceEqual(right);
    }

    private static object? Show(object? value) => value is IEnumerable list and not string ? $"[{string.Join(", ", list.Cast<object?>())}]" : value;
}
