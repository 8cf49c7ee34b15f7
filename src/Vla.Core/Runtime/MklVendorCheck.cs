using System.Runtime.InteropServices;
using System.Text;

namespace Vla.Runtime;

/// <summary>
/// Lets the oneMKL inside libtorch run its tuned float32 kernels on AMD processors: it takes them only where its
/// vendor check (<c>mkl_serv_intel_cpu_true</c>) answers yes, which it does on Intel's processors alone, and runs a
/// generic path elsewhere. libtorch_cpu.so calls that check through its procedure linkage table, so pointing the
/// check's slot there at a function answering yes, before oneMKL's first call, is what preloading a one-line C library
/// does (the well-known way to run MKL at full speed on AMD), done from inside the process.
/// </summary>
/// <remarks>
/// Which kernels run still follows the processor's own feature flags (AVX2, AVX-512): only the vendor gate changes.
/// Measured on an AMD EPYC (Zen 4) VM, 2 threads: 1024² float32 products at 1.2–1.5× the default rate (bench/README.md,
/// "float32 on AMD"). Applied on x86-64 Linux to non-Intel processors with AVX2, when libtorch is found; set
/// <see cref="Variable"/>=keep to leave oneMKL's check as it is. <c>vla diagnose</c> prints what was done.
/// </remarks>
public static unsafe class MklVendorCheck
{
    /// <summary>Set to <c>keep</c> to leave oneMKL's vendor check alone.</summary>
    public const string Variable = "VLA_MKL_VENDOR_CHECK";

    private const string Symbol = "mkl_serv_intel_cpu_true";
    private const long DtNull = 0, DtPltRelSz = 2, DtStrTab = 5, DtSymTab = 6, DtJmpRel = 23;
    private const uint PtDynamic = 2, RX8664JumpSlot = 7;

    /// <summary>What was done in this process (null before <see cref="Apply"/> ran).</summary>
    public static string? Outcome { get; private set; }

    /// <summary>True when oneMKL's vendor check answers yes in this process.</summary>
    public static bool Bypassed { get; private set; }

    [UnmanagedCallersOnly]
    private static int IntelCpuTrue() => 1;

    /// <summary>Applies the bypass once, for the libtorch in <paramref name="libtorchDirectory"/>; never throws.</summary>
    internal static void Apply(string? libtorchDirectory)
    {
        if (Outcome is not null) return;
        try
        {
            Outcome = ApplyCore(libtorchDirectory);
        }
        catch (Exception e)
        {
            Outcome = $"left as it is ({e.Message})";
        }
    }

    private static string ApplyCore(string? libtorchDirectory)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return "not needed (not x86-64 Linux)";
        if (string.Equals(Environment.GetEnvironmentVariable(Variable), "keep", StringComparison.OrdinalIgnoreCase)) return $"left as it is ({Variable}=keep)";
        var (vendor, avx2) = Processor();
        if (vendor == "GenuineIntel") return "not needed (Intel processor)";
        if (!avx2) return $"left as it is ({vendor} without AVX2)";
        string? library = libtorchDirectory is null ? null : Path.Combine(libtorchDirectory, "libtorch_cpu.so");
        if (library is null || !File.Exists(library)) return "left as it is (libtorch_cpu.so not found)";
        NativeLibrary.Load(library); // before anything calls oneMKL: its dispatch is settled at the first call
        var (start, writable) = Mapping(Path.GetFileName(library));
        nint slot = JumpSlot(start, Symbol);
        if (slot == 0) return $"left as it is (libtorch_cpu.so calls no {Symbol} through its linkage table)";
        if (!writable(slot)) return $"left as it is ({Symbol}'s slot is read-only)";
        Volatile.Write(ref *(nint*)slot, (nint)(delegate* unmanaged<int>)&IntelCpuTrue);
        Bypassed = true;
        return $"answered yes on this {vendor} processor ({Variable}=keep to leave it)";
    }

    /// <summary>The vendor id and whether the avx2 flag is present, from /proc/cpuinfo.</summary>
    private static (string Vendor, bool Avx2) Processor()
    {
        string vendor = "unknown";
        bool avx2 = false;
        foreach (var line in File.ReadLines("/proc/cpuinfo"))
        {
            if (line.StartsWith("vendor_id", StringComparison.Ordinal)) vendor = line[(line.IndexOf(':') + 1)..].Trim();
            else if (line.StartsWith("flags", StringComparison.Ordinal))
            {
                avx2 = line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("avx2");
                break;
            }
        }
        return (vendor, avx2);
    }

    /// <summary>Where <paramref name="fileName"/>'s first page is mapped, and a test of whether an address in its mappings is writable.</summary>
    private static (nint Start, Func<nint, bool> Writable) Mapping(string fileName)
    {
        var ranges = ProcessMaps.Read().Where(m => m.FileName == fileName).ToList();
        var first = ranges.FirstOrDefault(r => r.Offset == 0) ?? throw new InvalidOperationException($"{fileName} is not mapped");
        return ((nint)first.From, address => ranges.Any(r => r.Writable && (ulong)address >= r.From && (ulong)address + 8 <= r.To));
    }

    /// <summary>The address of <paramref name="symbol"/>'s jump slot in the library loaded at <paramref name="base"/>, or 0.</summary>
    private static nint JumpSlot(nint @base, string symbol)
    {
        byte* b = (byte*)@base;
        if (b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1) throw new InvalidOperationException("not a 64-bit little-endian ELF image");
        ulong phoff = *(ulong*)(b + 0x20);
        ushort phentsize = *(ushort*)(b + 0x36), phnum = *(ushort*)(b + 0x38);
        long* dynamic = null;
        for (int i = 0; i < phnum; i++)
        {
            byte* ph = b + phoff + (ulong)(i * phentsize);
            if (*(uint*)ph == PtDynamic) dynamic = (long*)(b + *(ulong*)(ph + 0x10));
        }
        if (dynamic is null) throw new InvalidOperationException("no dynamic section");
        ulong jmprel = 0, pltrelsz = 0, symtab = 0, strtab = 0;
        for (long* d = dynamic; d[0] != DtNull; d += 2)
        {
            ulong value = (ulong)d[1];
            if (value != 0 && value < (ulong)@base && d[0] != DtPltRelSz) value += (ulong)@base; // the loader may or may not have relocated it
            switch (d[0])
            {
                case DtJmpRel: jmprel = value; break;
                case DtPltRelSz: pltrelsz = value; break;
                case DtSymTab: symtab = value; break;
                case DtStrTab: strtab = value; break;
            }
        }
        if (jmprel == 0 || symtab == 0 || strtab == 0) return 0;
        byte[] wanted = Encoding.ASCII.GetBytes(symbol + "\0");
        for (ulong r = 0; r < pltrelsz / 24; r++)
        {
            byte* rela = (byte*)jmprel + r * 24;
            ulong info = *(ulong*)(rela + 8);
            if ((uint)info != RX8664JumpSlot) continue;
            byte* name = (byte*)strtab + *(uint*)((byte*)symtab + (info >> 32) * 24);
            int i = 0;
            while (i < wanted.Length && name[i] == wanted[i] && name[i] != 0) i++;
            if (i == wanted.Length - 1 && name[i] == 0) return (nint)(b + *(ulong*)rela);
        }
        return 0;
    }
}
