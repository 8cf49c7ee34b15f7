using System.Buffers;
using System.Collections;
using System.Text;
using MessagePack;

namespace Vla.Client;

/// <summary>
/// openpi's wire format: msgpack where a NumPy array is the map <c>{"__ndarray__": true, "data": bin, "dtype": str, "shape": [..]}</c>
/// and a NumPy scalar <c>{"__npgeneric__": true, "data": value, "dtype": str}</c>, those keys written as msgpack bin (Python bytes),
/// as openpi's <c>msgpack_numpy</c> packs them. Plain maps, lists, strings, numbers, booleans, nil and bin pass through. Nothing
/// here creates objects by name: no code travels on the wire.
/// </summary>
public static class OpenPiMsgpack
{
    /// <summary>Deepest nesting accepted when reading (a hostile message cannot exhaust the stack).</summary>
    public const int MaxDepth = 32;

    private static readonly byte[] NdArrayKey = "__ndarray__"u8.ToArray();
    private static readonly byte[] NpGenericKey = "__npgeneric__"u8.ToArray();
    private static readonly byte[] DataKey = "data"u8.ToArray();
    private static readonly byte[] DtypeKey = "dtype"u8.ToArray();
    private static readonly byte[] ShapeKey = "shape"u8.ToArray();

    /// <summary>Packs <paramref name="value"/>: maps with string keys, lists, <see cref="NdArray"/>, strings, numbers, booleans, null, byte arrays (bin).</summary>
    public static byte[] Pack(object? value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        Write(ref writer, value);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static void Write(ref MessagePackWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNil(); break;
            case bool b: writer.Write(b); break;
            case string s: writer.Write(s); break;
            case byte[] bytes: writer.Write(bytes.AsSpan()); break; // bin
            case float f: writer.Write(f); break;
            case double d: writer.Write(d); break;
            case int i: writer.Write(i); break;
            case long l: writer.Write(l); break;
            case NdArray array:
                writer.WriteMapHeader(4);
                writer.Write(NdArrayKey.AsSpan());
                writer.Write(true);
                writer.Write(DataKey.AsSpan());
                writer.Write(array.Data.AsSpan());
                writer.Write(DtypeKey.AsSpan());
                writer.Write(array.Dtype);
                writer.Write(ShapeKey.AsSpan());
                writer.WriteArrayHeader(array.Shape.Length);
                foreach (int d in array.Shape) writer.Write(d);
                break;
            case IDictionary map:
                writer.WriteMapHeader(map.Count);
                foreach (DictionaryEntry entry in map)
                {
                    writer.Write(entry.Key as string ?? throw new ArgumentException($"map keys must be strings (got {entry.Key.GetType().Name})."));
                    Write(ref writer, entry.Value);
                }
                break;
            case IList list:
                writer.WriteArrayHeader(list.Count);
                foreach (var item in list) Write(ref writer, item);
                break;
            default:
                throw new ArgumentException($"{value.GetType().Name} has no msgpack form here (use maps, lists, NdArray, strings, numbers, booleans or byte arrays).");
        }
    }

    /// <summary>
    /// Reads one message: maps become <c>Dictionary&lt;string, object?&gt;</c> (str and bin keys alike), arrays <c>List&lt;object?&gt;</c>,
    /// <c>__ndarray__</c> maps <see cref="NdArray"/>, <c>__npgeneric__</c> maps their value; throws <see cref="FormatException"/> on anything malformed.
    /// </summary>
    public static object? Unpack(ReadOnlyMemory<byte> message)
    {
        var reader = new MessagePackReader(message);
        try
        {
            var value = Read(ref reader, 0);
            if (!reader.End) throw new FormatException("bytes follow the message.");
            return value;
        }
        catch (MessagePackSerializationException e)
        {
            throw new FormatException($"not msgpack ({e.Message.TrimEnd('.')}).", e);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("the message ends early.", e);
        }
    }

    private static object? Read(ref MessagePackReader reader, int depth)
    {
        if (depth > MaxDepth) throw new FormatException($"the message nests deeper than {MaxDepth} levels.");
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil: reader.ReadNil(); return null;
            case MessagePackType.Boolean: return reader.ReadBoolean();
            case MessagePackType.Integer: return reader.ReadInt64();
            case MessagePackType.Float: return reader.NextCode == MessagePackCode.Float32 ? reader.ReadSingle() : reader.ReadDouble();
            case MessagePackType.String: return reader.ReadString();
            case MessagePackType.Binary: return reader.ReadBytes()!.Value.ToArray();
            case MessagePackType.Array:
            {
                int count = reader.ReadArrayHeader();
                var list = new List<object?>(Math.Min(count, 1024));
                for (int i = 0; i < count; i++) list.Add(Read(ref reader, depth + 1));
                return list;
            }
            case MessagePackType.Map:
            {
                int count = reader.ReadMapHeader();
                var map = new Dictionary<string, object?>(Math.Min(count, 1024));
                for (int i = 0; i < count; i++)
                {
                    string key = reader.NextMessagePackType switch
                    {
                        MessagePackType.String => reader.ReadString()!,
                        MessagePackType.Binary => Encoding.UTF8.GetString(reader.ReadBytes()!.Value),
                        var other => throw new FormatException($"a map key is {other}, not a string."),
                    };
                    map[key] = Read(ref reader, depth + 1);
                }
                return FromNumpy(map);
            }
            case MessagePackType.Unknown:
                throw new FormatException($"not msgpack: byte 0x{reader.NextCode:X2} starts no msgpack value.");
            default:
                throw new FormatException($"msgpack type {reader.NextMessagePackType} is not accepted.");
        }
    }

    private static object? FromNumpy(Dictionary<string, object?> map)
    {
        if (map.GetValueOrDefault("__ndarray__") is true)
        {
            if (map.GetValueOrDefault("data") is not byte[] data || map.GetValueOrDefault("dtype") is not string dtype || map.GetValueOrDefault("shape") is not List<object?> shape)
                throw new FormatException("an __ndarray__ map needs bin 'data', str 'dtype' and a 'shape' list.");
            var dims = shape.Select(d => d is long n and >= 0 and <= int.MaxValue ? (int)n : throw new FormatException("an array's shape holds a value that is not a size.")).ToArray();
            var array = new NdArray(dtype, dims, data);
            if (dtype.Length < 3 || !int.TryParse(dtype.AsSpan(2), out int size) || array.Length * size != data.LongLength)
                throw new FormatException($"an array of dtype '{dtype}' and shape ({string.Join(", ", dims)}) cannot hold {data.Length} bytes.");
            return array;
        }
        if (map.GetValueOrDefault("__npgeneric__") is true) return map.GetValueOrDefault("data");
        return map;
    }
}
