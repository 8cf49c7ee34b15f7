using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Vla.Client;

/// <summary>
/// A NumPy array as openpi's wire format carries it: raw bytes, NumPy's dtype string (<c>&lt;f4</c>, <c>|u1</c>, …) and shape.
/// </summary>
/// <param name="Dtype">NumPy's <c>dtype.str</c>: byte order, kind and item size (<c>&lt;f4</c> is little-endian float32).</param>
/// <param name="Shape">The dimensions.</param>
/// <param name="Data">The elements in C order, as <c>ndarray.tobytes()</c> gives them.</param>
public sealed record NdArray(string Dtype, int[] Shape, byte[] Data)
{
    /// <summary>Number of elements.</summary>
    public long Length => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>A float32 array of <paramref name="values"/> with <paramref name="shape"/> (one dimension when not given).</summary>
    public static NdArray FromFloats(float[] values, params int[] shape)
    {
        shape = shape.Length == 0 ? [values.Length] : shape;
        if (shape.Aggregate(1L, (a, b) => a * b) != values.Length)
            throw new ArgumentException($"{values.Length} values do not fill the shape ({string.Join(", ", shape)}).", nameof(shape));
        return new NdArray("<f4", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    /// <summary>A uint8 array (camera images, height × width × 3).</summary>
    public static NdArray FromBytes(byte[] values, params int[] shape)
    {
        if (shape.Aggregate(1L, (a, b) => a * b) != values.Length)
            throw new ArgumentException($"{values.Length} bytes do not fill the shape ({string.Join(", ", shape)}).", nameof(shape));
        return new NdArray("|u1", shape, values);
    }

    /// <summary>The elements as float32, from any float or integer dtype of either byte order.</summary>
    public float[] ToFloats()
    {
        if (Dtype.Length < 3) throw new FormatException($"'{Dtype}' is not a NumPy dtype string.");
        bool big = Dtype[0] == '>';
        char kind = Dtype[1];
        int size = int.Parse(Dtype.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture);
        if (Data.LongLength != Length * size) throw new FormatException($"{Data.Length} bytes do not hold {Length} elements of '{Dtype}'.");
        var result = new float[Length];
        var span = Data.AsSpan();
        for (int i = 0; i < result.Length; i++)
        {
            var item = span.Slice(i * size, size);
            result[i] = (kind, size) switch
            {
                ('f', 4) => big ? BinaryPrimitives.ReadSingleBigEndian(item) : BinaryPrimitives.ReadSingleLittleEndian(item),
                ('f', 8) => (float)(big ? BinaryPrimitives.ReadDoubleBigEndian(item) : BinaryPrimitives.ReadDoubleLittleEndian(item)),
                ('f', 2) => (float)(big ? BinaryPrimitives.ReadHalfBigEndian(item) : BinaryPrimitives.ReadHalfLittleEndian(item)),
                ('u', 1) => item[0],
                ('i', 1) => (sbyte)item[0],
                ('i', 4) => big ? BinaryPrimitives.ReadInt32BigEndian(item) : BinaryPrimitives.ReadInt32LittleEndian(item),
                ('i', 8) => big ? BinaryPrimitives.ReadInt64BigEndian(item) : BinaryPrimitives.ReadInt64LittleEndian(item),
                ('b', 1) => item[0] != 0 ? 1 : 0,
                _ => throw new FormatException($"dtype '{Dtype}' cannot be read as numbers here."),
            };
        }
        return result;
    }
}
