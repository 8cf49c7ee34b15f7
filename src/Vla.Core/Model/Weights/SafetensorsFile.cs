using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Model.Weights;

/// <summary>
/// A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the raw little-endian data. Written by hand rather than through
/// TorchSharp.PyBridge so tensors can be streamed in bounded chunks straight into existing parameters
/// (peak memory one copy of the weights) and every error can name the file and tensor.
/// </summary>
public sealed class SafetensorsFile
{
    /// <summary>One tensor's entry in the header.</summary>
    public sealed record Entry(string Name, string Dtype, long[] Shape, long Begin, long End)
    {
        /// <summary>Number of elements (the shape was checked when the header was read: no negative size, no overflow).</summary>
        public long Count => Shape.Aggregate(1L, (a, b) => checked(a * b));
    }

    private const long ChunkBytes = 64L << 20;

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The tensors in the file, in header order.</summary>
    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>The <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private readonly long _dataStart;

    private SafetensorsFile(string path, List<Entry> entries, Dictionary<string, string> metadata, long dataStart)
    {
        Path = path;
        Entries = entries;
        Metadata = metadata;
        _dataStart = dataStart;
    }

    /// <summary>Reads the header of <paramref name="path"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        var (header, fileLength) = ReadHeader(path);
        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>();
        long headerLength = header.Length;
        long dataLength = fileLength - 8 - headerLength;
        try
        {
            using var doc = JsonDocument.Parse(header);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    foreach (var m in property.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                    continue;
                }
                entries.Add(ReadEntry(property, path, dataLength));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new BadInputException($"{path}: the safetensors header is malformed ({e.Message.TrimEnd('.')}).", e);
        }
        return new SafetensorsFile(path, entries, metadata, 8 + headerLength);
    }

    /// <summary>
    /// One tensor's header entry, checked as untrusted input before anything is allocated from it: sizes not negative,
    /// their product and byte count without overflow, and a byte range inside the file that matches them exactly.
    /// </summary>
    private static Entry ReadEntry(JsonProperty property, string path, long dataLength)
    {
        string name = property.Name;
        var value = property.Value;
        string Bad(string why) => $"{path}: tensor '{name}' {why}";
        var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        string dtype = value.GetProperty("dtype").GetString() ?? throw new BadInputException(Bad("has no dtype."));
        if (offsets.Length != 2) throw new BadInputException(Bad($"has {offsets.Length} data offsets; a begin and an end are expected."));
        if (shape.Any(d => d < 0)) throw new BadInputException(Bad($"has a negative size in its shape [{string.Join(", ", shape)}]."));
        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * ElementSize(dtype, path, name));
        }
        catch (OverflowException)
        {
            throw new BadInputException(Bad($"has a shape [{string.Join(", ", shape)}] whose size overflows 64 bits."));
        }
        var entry = new Entry(name, dtype, shape, offsets[0], offsets[1]);
        if (entry.Begin < 0 || entry.End > dataLength || entry.Begin > entry.End || entry.End - entry.Begin != bytes)
            throw new BadInputException(Bad($"has a byte range [{entry.Begin}, {entry.End}) that does not fit its shape ({bytes} bytes) or the file's {dataLength} data bytes (truncated?)."));
        return entry;
    }

    /// <summary>Bytes per element of a safetensors dtype; only the dtypes model weights use are accepted.</summary>
    public static int ElementSize(string dtype, string path, string name) => dtype switch
    {
        "F32" or "I32" => 4,
        "BF16" or "F16" => 2,
        "F64" or "I64" => 8,
        "BOOL" or "U8" => 1,
        _ => throw new BadInputException($"{path}: tensor '{name}' has dtype {dtype}; F32, BF16, F16, F64, I64, I32, U8 and BOOL are supported."),
    };

    private static ScalarType ScalarTypeOf(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32, "BF16" => ScalarType.BFloat16, "F16" => ScalarType.Float16, "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64, "I32" => ScalarType.Int32, "U8" => ScalarType.Byte, "BOOL" => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The raw JSON header of <paramref name="path"/> (its length checked against the file) and the file's length.</summary>
    internal static (byte[] Header, long FileLength) ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw new BadInputException($"{path}: too short to be a safetensors file.");
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength <= 0 || headerLength > 100_000_000 || 8 + headerLength > stream.Length)
            throw new BadInputException($"{path}: not a safetensors file (header length {headerLength}).");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return (header, stream.Length);
    }

    /// <summary>
    /// Copies tensor <paramref name="entry"/> into <paramref name="destination"/> (same element count,
    /// contiguous), converting dtype on the way, in chunks of at most 64 MB of file data; a host tensor of the
    /// file's dtype is read into directly.
    /// </summary>
    public void CopyInto(Entry entry, Tensor destination)
    {
        if (destination.numel() != entry.Count) throw new ArgumentException($"'{entry.Name}' has {entry.Count} elements, the destination {destination.numel()}.");
        int size = ElementSize(entry.Dtype, Path, entry.Name);
        long perChunk = Math.Max(1, ChunkBytes / size);
        using var stream = File.OpenRead(Path);
        stream.Seek(_dataStart + entry.Begin, SeekOrigin.Begin);
        using var noGrad = no_grad();
        var flat = destination.view(-1);
        if (destination.device_type == TorchSharp.DeviceType.CPU && destination.dtype == ScalarTypeOf(entry.Dtype) && entry.Dtype != "BOOL")
        {
            // Same dtype on the host: read the file straight into the tensor's memory, no intermediate copy.
            for (long done = 0; done < entry.Count; done += perChunk)
            {
                using var scope = NewDisposeScope();
                stream.ReadExactly(flat.narrow(0, done, Math.Min(perChunk, entry.Count - done)).bytes);
            }
            return;
        }
        var buffer = new byte[Math.Min(entry.End - entry.Begin, perChunk * size)];
        for (long done = 0; done < entry.Count; done += perChunk)
        {
            int count = (int)Math.Min(perChunk, entry.Count - done);
            stream.ReadExactly(buffer, 0, count * size);
            using var scope = NewDisposeScope();
            flat.narrow(0, done, count).copy_(Decode(entry.Dtype, buffer.AsSpan(0, count * size), count));
        }
    }

    /// <summary>
    /// Little-endian bytes → a CPU tensor. Half-precision values are widened to float32 exactly (BF16 is
    /// the top half of a float32); <c>copy_</c> then narrows to the destination's dtype.
    /// </summary>
    private static Tensor Decode(string dtype, ReadOnlySpan<byte> bytes, int count)
    {
        switch (dtype)
        {
            case "F32":
                return frombuffer(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), ScalarType.Float32, count);
            case "BF16":
            {
                var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                var floats = new float[count];
                for (int i = 0; i < count; i++) floats[i] = BitConverter.Int32BitsToSingle(halves[i] << 16);
                return frombuffer(floats, ScalarType.Float32, count);
            }
            case "F16":
            {
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                var floats = new float[count];
                for (int i = 0; i < count; i++) floats[i] = (float)halves[i];
                return frombuffer(floats, ScalarType.Float32, count);
            }
            case "F64": return frombuffer(MemoryMarshal.Cast<byte, double>(bytes).ToArray(), ScalarType.Float64, count);
            case "I64": return frombuffer(MemoryMarshal.Cast<byte, long>(bytes).ToArray(), ScalarType.Int64, count);
            case "I32": return frombuffer(MemoryMarshal.Cast<byte, int>(bytes).ToArray(), ScalarType.Int32, count);
            case "U8": return frombuffer(bytes.ToArray(), ScalarType.Byte, count);
            case "BOOL":
            {
                var flags = new bool[count];
                for (int i = 0; i < count; i++) flags[i] = bytes[i] != 0;
                return frombuffer(flags, ScalarType.Bool, count);
            }
            default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null);
        }
    }

    /// <summary>Reads tensor <paramref name="name"/> into a new tensor of its own dtype.</summary>
    public Tensor Read(string name)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name) ?? throw new KeyNotFoundException($"{Path} has no tensor '{name}'.");
        var result = empty(entry.Shape, ScalarTypeOf(entry.Dtype));
        CopyInto(entry, result);
        return result;
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (name → CPU tensor, written contiguous in its own dtype) as a
    /// safetensors file, atomically: a temporary file renamed into place.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors.Select(t => new Pending(t.Name, t.Tensor.shape, t.Tensor.dtype, () => t.Tensor, Owned: false)).ToList(), metadata);

    /// <summary>A tensor to write, made only when its bytes are due (<paramref name="Owned"/>: freed once written).</summary>
    public sealed record Pending(string Name, long[] Shape, ScalarType Dtype, Func<Tensor> Make, bool Owned = true);

    /// <summary>
    /// Writes <paramref name="tensors"/> as <see cref="Write(string, IEnumerable{ValueTuple{string, Tensor}}, IReadOnlyDictionary{string, string}?)"/>
    /// does, making each one only when its bytes are written, so a model-sized file of derived tensors (merged adapters) costs one tensor of memory at a time.
    /// </summary>
    public static void Write(string path, IReadOnlyList<Pending> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Shape.Aggregate(1L, (a, b) => a * b) * ElementSize(t.Dtype);
            header[t.Name] = new { dtype = DtypeName(t.Dtype), shape = t.Shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padding = (8 - json.Length % 8) % 8; // keep the data 8-byte aligned, as the reference writer does
        var headerBytes = new byte[json.Length + padding];
        json.CopyTo(headerBytes, 0);
        headerBytes.AsSpan(json.Length).Fill((byte)' ');

        AtomicFile.Write(path, stream =>
        {
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
            stream.Write(length);
            stream.Write(headerBytes);
            foreach (var t in tensors)
            {
                using var scope = NewDisposeScope(); // the host copy of a device tensor goes at once, not at the next GC
                var made = t.Make();
                if (!made.shape.SequenceEqual(t.Shape) || made.dtype != t.Dtype)
                    throw new InvalidOperationException($"{t.Name} was declared [{string.Join(", ", t.Shape)}] {t.Dtype} but made [{string.Join(", ", made.shape)}] {made.dtype}.");
                if (!t.Owned) made.DetachFromDisposeScope();
                stream.Write(made.detach().cpu().contiguous().bytes);
            }
        });
    }

    private static long ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8, ScalarType.Float32 or ScalarType.Int32 => 4, ScalarType.BFloat16 or ScalarType.Float16 => 2,
        ScalarType.Byte or ScalarType.Bool => 1, _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no safetensors dtype"),
    };

    private static string DtypeName(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32", ScalarType.BFloat16 => "BF16", ScalarType.Float16 => "F16", ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64", ScalarType.Int32 => "I32", ScalarType.Byte => "U8", ScalarType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no safetensors dtype"),
    };
}
