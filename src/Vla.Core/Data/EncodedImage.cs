using System.Buffers.Binary;

namespace Vla.Data;

/// <summary>
/// Whether an encoded PNG or JPEG holds all of its data. ImageSharp decodes a cut-off file without complaint and
/// fills what is missing (grey for JPEG), so a truncated camera frame would train silently; walking the format's
/// segments to its end marker (JPEG's EOI, PNG's IEND) finds the cut without decoding.
/// </summary>
public static class EncodedImage
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Why <paramref name="bytes"/> stops before its end marker, or null when it is whole (or not PNG/JPEG).</summary>
    public static string? FindTruncation(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) return JpegTruncation(bytes);
        if (bytes.StartsWith(PngSignature)) return PngTruncation(bytes);
        return null;
    }

    /// <summary>Walks JPEG markers: length-prefixed segments, and after each start-of-scan the entropy-coded data up to the next marker.</summary>
    private static string? JpegTruncation(ReadOnlySpan<byte> b)
    {
        int i = 2;
        while (true)
        {
            while (i < b.Length && b[i] != 0xFF) i++;                                            // stray bytes between segments, as libjpeg tolerates
            while (i + 1 < b.Length && b[i + 1] == 0xFF) i++;                                   // fill bytes before a marker
            if (i + 1 >= b.Length) return Cut("JPEG", b.Length, "before its end-of-image marker");
            byte marker = b[i + 1];
            i += 2;
            if (marker == 0xD9) return null;                                // EOI: complete
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) continue;          // TEM, RSTn: no length
            if (i + 2 > b.Length) return Cut("JPEG", b.Length, "inside a marker segment");
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[i..]);
            if (length < 2 || i + length > b.Length) return Cut("JPEG", b.Length, "inside a marker segment");
            i += length;
            if (marker != 0xDA) continue;
            // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or RSTn; anything else is the next marker.
            while (true)
            {
                int ff = b[i..].IndexOf((byte)0xFF);
                if (ff < 0 || i + ff + 1 >= b.Length) return Cut("JPEG", b.Length, "inside the compressed image data");
                i += ff;
                byte next = b[i + 1];
                if (next == 0x00 || next is >= 0xD0 and <= 0xD7) { i += 2; continue; }
                if (next == 0xFF) { i++; continue; }
                break;
            }
        }
    }

    /// <summary>Walks PNG chunks (length, type, data, CRC) up to IEND.</summary>
    private static string? PngTruncation(ReadOnlySpan<byte> b)
    {
        int i = PngSignature.Length;
        while (true)
        {
            if (i + 8 > b.Length) return Cut("PNG", b.Length, "before its IEND chunk");
            long length = BinaryPrimitives.ReadUInt32BigEndian(b[i..]);
            bool end = b.Slice(i + 4, 4).SequenceEqual("IEND"u8);
            if (i + 12 + length > b.Length) return Cut("PNG", b.Length, $"inside its {System.Text.Encoding.ASCII.GetString(b.Slice(i + 4, 4))} chunk");
            if (end) return null;
            i += (int)(12 + length);
        }
    }

    private static string Cut(string format, int length, string where) =>
        $"the {format} data ends {where}: the file is truncated ({length} bytes) or was written without its end marker, and decoding it would make up what is missing.";
}
