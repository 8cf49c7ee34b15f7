using Vla.Inference;
using Vla.Model.Weights;
using Vla.Runtime;

namespace Vla.Tests.Inference;

/// <summary>NumPy's .npy read as NumPy writes it (tests/golden/pi0_noise.npy is numpy.save's output).</summary>
public sealed class NpyFileTests
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");

    [Fact]
    public void A_float32_array_written_by_numpy_reads_back_exactly()
    {
        var (values, shape) = NpyFile.ReadFloat32(Path.Combine(Golden, "pi0_noise.npy"));
        Assert.Equal([5L, 8L], shape);
        using var noise = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors")).Read("noise");
        Assert.Equal(noise[0].contiguous().data<float>().ToArray(), values);
    }

    [Theory]
    [InlineData("<f8", "False", 8, "dtype is '<f8', not float32")]
    [InlineData("<f4", "True", 4, "Fortran order")]
    [InlineData("<f4", "False", 3, "does not match the 18 bytes of data")]
    public void Other_arrays_are_refused_naming_the_file(string descr, string fortran, int bytesPerValue, string expected)
    {
        using var folder = new TempFolder();
        string path = folder.PathOf("x.npy");
        string header = $"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': (2, 3), }}".PadRight(117) + "\n";
        File.WriteAllBytes(path, [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.Latin1.GetBytes(header), .. new byte[6 * bytesPerValue]]);
        var error = Assert.Throws<BadInputException>(() => NpyFile.ReadFloat32(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("(4611686018427387904,)")]
    [InlineData("(4294967296, 4294967296, 4)")]
    [InlineData("(99999999999999999999,)")]
    public void A_declared_shape_far_beyond_the_data_is_refused_before_any_allocation(string shape)
    {
        using var folder = new TempFolder();
        string path = folder.PathOf("huge.npy");
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".PadRight(117) + "\n";
        File.WriteAllBytes(path, [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.Latin1.GetBytes(header), .. new byte[8]]);
        var error = Assert.Throws<BadInputException>(() => NpyFile.ReadFloat32(path));
        Assert.Contains(path, error.Message);
    }
}
