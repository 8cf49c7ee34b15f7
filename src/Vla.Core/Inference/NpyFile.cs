using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Vla.Runtime;

namespace Vla.Inference;

/// <summary>
/// Reads a NumPy <c>.npy</c> array of float32 (<c>&lt;f4</c>, C order), as <c>numpy.save</c> writes it: the magic string, a
/// version, a header dictionary and the raw values. Anything else is refused naming the file. (A whole NumPy port such as
/// NumSharp would be a large dependency for this one fixed layout.)
/// </summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The values, row-major, and the shape of the float32 array in <paramref name="path"/>.</summary>
    public static (float[] Values, long[] Shape) ReadFloat32(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path} does not exist.");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic)) throw new BadInputException($"{path} is not a NumPy .npy file (no \\x93NUMPY magic).");
        int major = bytes[6];
        int headerLength, start;
        if (major == 1) (headerLength, start) = (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)), 10);
        else if (major is 2 or 3 && bytes.Length >= 12) (headerLength, start) = ((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), int.MaxValue), 12);
        else throw new BadInputException($"{path}: .npy version {major} is not supported (1, 2 or 3).");
        if ((long)start + headerLength > bytes.Length) throw new BadInputException($"{path}: the header runs past the end of the file.");
        string header = Encoding.Latin1.GetString(bytes, start, headerLength);
        string descr = Header().Match(header) is { Success: true } d ? d.Groups["descr"].Value : "";
        if (descr != "<f4") throw new BadInputException($"{path}: the array's dtype is '{descr}', not float32 ('<f4').");
        if (!header.Contains("'fortran_order': False", StringComparison.Ordinal)) throw new BadInputException($"{path}: the array is in Fortran order; save it in C order.");
        var shapeMatch = Shape().Match(header);
        if (!shapeMatch.Success) throw new BadInputException($"{path}: the header has no shape.");
        var dims = shapeMatch.Groups["dims"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var shape = new long[dims.Length];
        for (int i = 0; i < dims.Length; i++)
            if (!long.TryParse(dims[i], out shape[i])) throw new BadInputException($"{path}: the shape's dimension '{dims[i]}' is not a size.");
        int offset = start + headerLength;
        long available = (bytes.Length - offset) / 4, count = 1;
        foreach (long size in shape)
            count = size == 0 || count <= available / Math.Max(size, 1) ? count * size : available + 1;   // stops growing once past the data
        if (count != available || (bytes.Length - offset) % 4 != 0)
            throw new BadInputException($"{path}: the shape ({string.Join(", ", shape)}) does not match the {bytes.Length - offset} bytes of data the file holds.");
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(offset + (int)(4 * i)));
        return (values, shape);
    }

    [GeneratedRegex(@"'descr':\s*'(?<descr>[^']*)'")]
    private static partial Regex Header();

    [GeneratedRegex(@"'shape':\s*\((?<dims>[0-9,\s]*)\)")]
    private static partial Regex Shape();
}
