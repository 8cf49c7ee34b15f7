using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Vla.Config;

/// <summary>Writes a <see cref="VlaConfig"/> back as YAML that <see cref="ConfigLoader"/> reads (checkpoint snapshots).</summary>
public static class ConfigWriter
{
    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithTypeConverter(new StringListConverter())
        .Build();

    /// <summary>The config as YAML.</summary>
    public static string ToYaml(VlaConfig config) => Serializer.Serialize(config);
}
