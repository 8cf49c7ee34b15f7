using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Vla.Config;

/// <summary>Reads a list of strings from either one scalar (<c>train_parquet_files: data/</c>) or a sequence, as the seed allowed both.</summary>
internal sealed class StringListConverter : IYamlTypeConverter
{
    public bool Accepts(Type type) => type == typeof(List<string>);

    public object? ReadYaml(IParser parser, Type type, ObjectDeserializer rootDeserializer)
    {
        var list = new List<string>();
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            if (!string.IsNullOrEmpty(scalar.Value) && scalar.Value != "~" && scalar.Value != "null") list.Add(scalar.Value);
            return list;
        }
        parser.Consume<SequenceStart>();
        while (!parser.TryConsume<SequenceEnd>(out _))
            list.Add(parser.Consume<Scalar>().Value);
        return list;
    }

    public void WriteYaml(IEmitter emitter, object? value, Type type, ObjectSerializer serializer)
    {
        emitter.Emit(new SequenceStart(null, null, false, SequenceStyle.Block));
        foreach (var item in (List<string>)value!) emitter.Emit(new Scalar(item));
        emitter.Emit(new SequenceEnd());
    }
}
