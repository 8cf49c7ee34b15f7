using System.Buffers.Binary;
using System.Text;

namespace Vla.Runtime;

/// <summary>
/// Reads and edits the symbol-version records of a 64-bit little-endian ELF shared library:
/// the versions it needs from other libraries (<c>.gnu.version_r</c>), the versions it defines
/// (<c>.gnu.version_d</c>) and which version each relocated dynamic symbol is bound to.
/// Written for one job: marking a version need that no relocation uses as weak, so the dynamic
/// loader accepts a host library that lacks it (see <see cref="TorchRuntime"/>).
/// </summary>
public sealed class ElfVersionNeeds
{
    private const uint ShtRela = 4;
    private const uint ShtRel = 9;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;

    /// <summary>The <c>vna_flags</c> bit that makes a missing version a warning instead of a load failure.</summary>
    public const ushort VerFlagWeak = 0x2;

    private readonly byte[] _image;

    /// <summary>One needed version: the library that must provide it, its name, flags and index.</summary>
    public sealed record Need(string File, string Version, ushort Flags, ushort Index, int FlagsOffset)
    {
        /// <summary>True when the loader tolerates the version being absent.</summary>
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    /// <summary>Every version the library needs, in file order.</summary>
    public IReadOnlyList<Need> Needs { get; }

    /// <summary>Every version name the library defines (empty for most consumers).</summary>
    public IReadOnlyList<string> Definitions { get; }

    /// <summary>Version indices referenced by at least one dynamic relocation's symbol.</summary>
    public IReadOnlySet<ushort> RelocatedVersionIndices { get; }

    private ElfVersionNeeds(byte[] image)
    {
        _image = image;
        var sections = ReadSections(image);
        Needs = ReadNeeds(image, sections);
        Definitions = ReadDefinitions(image, sections);
        RelocatedVersionIndices = ReadRelocatedVersions(image, sections);
    }

    /// <summary>Parses <paramref name="image"/>; throws <see cref="InvalidDataException"/> when it is not a 64-bit little-endian ELF file.</summary>
    public static ElfVersionNeeds Parse(byte[] image) => new(image);

    /// <summary>Reads and parses the file at <paramref name="path"/>.</summary>
    public static ElfVersionNeeds Load(string path) => Parse(File.ReadAllBytes(path));

    /// <summary>
    /// Returns a copy of the image in which the given needed versions are marked weak. Throws when a
    /// version is not needed at all, or when a relocation uses it (weakening would then hide a real
    /// missing symbol instead of an unused tag).
    /// </summary>
    public byte[] WithWeakNeeds(IEnumerable<string> versions)
    {
        var copy = (byte[])_image.Clone();
        foreach (var version in versions)
        {
            var matches = Needs.Where(n => n.Version == version).ToList();
            if (matches.Count == 0)
                throw new InvalidOperationException($"The library does not need version {version}.");
            foreach (var need in matches)
            {
                if (RelocatedVersionIndices.Contains(need.Index))
                    throw new InvalidOperationException(
                        $"Version {version} of {need.File} is used by a relocation; marking it weak would hide a missing symbol.");
                var flags = BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(need.FlagsOffset));
                BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(need.FlagsOffset), (ushort)(flags | VerFlagWeak));
            }
        }
        return copy;
    }

    private sealed record Section(uint Type, long Offset, long Size, uint Link, uint Info, long EntrySize);

    private static List<Section> ReadSections(byte[] image)
    {
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (image[4] != 2 || image[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
        var span = image.AsSpan();
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > image.Length)
            throw new InvalidDataException("The ELF section header table is missing or truncated.");
        var sections = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            var h = span.Slice((int)(shoff + (long)i * shentsize), 64);
            sections.Add(new Section(
                Type: BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
                Offset: (long)BinaryPrimitives.ReadUInt64LittleEndian(h[0x18..]),
                Size: (long)BinaryPrimitives.ReadUInt64LittleEndian(h[0x20..]),
                Link: BinaryPrimitives.ReadUInt32LittleEndian(h[0x28..]),
                Info: BinaryPrimitives.ReadUInt32LittleEndian(h[0x2C..]),
                EntrySize: (long)BinaryPrimitives.ReadUInt64LittleEndian(h[0x38..])));
        }
        return sections;
    }

    private static string ReadString(byte[] image, Section strtab, uint offset)
    {
        int start = checked((int)(strtab.Offset + offset));
        int end = Array.IndexOf(image, (byte)0, start);
        if (end < 0) throw new InvalidDataException("Unterminated string in the ELF string table.");
        return Encoding.ASCII.GetString(image, start, end - start);
    }

    private static List<Need> ReadNeeds(byte[] image, List<Section> sections)
    {
        var needs = new List<Need>();
        foreach (var sec in sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var strtab = sections[(int)sec.Link];
            long entry = sec.Offset;
            for (uint n = 0; n < sec.Info; n++)
            {
                var vn = image.AsSpan((int)entry, 16);
                int count = BinaryPrimitives.ReadUInt16LittleEndian(vn[2..]);
                string file = ReadString(image, strtab, BinaryPrimitives.ReadUInt32LittleEndian(vn[4..]));
                long aux = entry + BinaryPrimitives.ReadUInt32LittleEndian(vn[8..]);
                for (int a = 0; a < count; a++)
                {
                    var vna = image.AsSpan((int)aux, 16);
                    needs.Add(new Need(
                        File: file,
                        Version: ReadString(image, strtab, BinaryPrimitives.ReadUInt32LittleEndian(vna[8..])),
                        Flags: BinaryPrimitives.ReadUInt16LittleEndian(vna[4..]),
                        Index: BinaryPrimitives.ReadUInt16LittleEndian(vna[6..]),
                        FlagsOffset: (int)aux + 4));
                    uint nextAux = BinaryPrimitives.ReadUInt32LittleEndian(vna[12..]);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = BinaryPrimitives.ReadUInt32LittleEndian(vn[12..]);
                if (next == 0) break;
                entry += next;
            }
        }
        return needs;
    }

    private static List<string> ReadDefinitions(byte[] image, List<Section> sections)
    {
        var defs = new List<string>();
        foreach (var sec in sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var strtab = sections[(int)sec.Link];
            long entry = sec.Offset;
            for (uint d = 0; d < sec.Info; d++)
            {
                var vd = image.AsSpan((int)entry, 20);
                long aux = entry + BinaryPrimitives.ReadUInt32LittleEndian(vd[12..]);
                // The first aux entry names the version itself; later ones name its parents.
                defs.Add(ReadString(image, strtab, BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)aux))));
                uint next = BinaryPrimitives.ReadUInt32LittleEndian(vd[16..]);
                if (next == 0) break;
                entry += next;
            }
        }
        return defs;
    }

    private static HashSet<ushort> ReadRelocatedVersions(byte[] image, List<Section> sections)
    {
        var used = new HashSet<ushort>();
        int versymIndex = sections.FindIndex(s => s.Type == ShtGnuVersym);
        if (versymIndex < 0) return used;
        var versym = sections[versymIndex];
        // .gnu.version is parallel to the dynamic symbol table it links to.
        foreach (var rel in sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == versym.Link))
        {
            long entrySize = rel.EntrySize > 0 ? rel.EntrySize : (rel.Type == ShtRela ? 24 : 16);
            for (long off = rel.Offset; off + entrySize <= rel.Offset + rel.Size; off += entrySize)
            {
                ulong info = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan((int)off + 8));
                long symbol = (long)(info >> 32);
                if (symbol == 0) continue;
                long at = versym.Offset + symbol * 2;
                if (at + 2 > versym.Offset + versym.Size) continue;
                // Bit 15 marks a hidden symbol; the rest is the version index.
                used.Add((ushort)(BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)at)) & 0x7fff));
            }
        }
        return used;
    }
}
