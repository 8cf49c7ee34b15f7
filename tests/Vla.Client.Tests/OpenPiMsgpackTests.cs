namespace Vla.Client.Tests;

/// <summary>openpi's msgpack form of NumPy arrays, checked against the bytes the msgpack specification defines, not only against ourselves.</summary>
public sealed class OpenPiMsgpackTests
{
    /// <summary>
    /// <c>msgpack.packb(np.array([1, 2], np.float32), default=pack_array)</c> as openpi writes it, byte by byte from the msgpack spec:
    /// a 4-entry fixmap, bin keys (Python bytes), <c>true</c>, the 8 data bytes as bin, the dtype as fixstr, the shape as a fixarray.
    /// </summary>
    private static readonly byte[] TwoFloats =
    [
        0x84,
        0xC4, 11, .. "__ndarray__"u8, 0xC3,
        0xC4, 4, .. "data"u8, 0xC4, 8, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40,
        0xC4, 5, .. "dtype"u8, 0xA3, .. "<f4"u8,
        0xC4, 5, .. "shape"u8, 0x91, 0x02,
    ];

    [Fact]
    public void An_array_packs_to_the_bytes_openpi_writes()
    {
        Assert.Equal(TwoFloats, OpenPiMsgpack.Pack(NdArray.FromFloats([1f, 2f])));
    }

    [Fact]
    public void Openpi_bytes_read_back_as_the_array_inside_a_map_with_str_keys()
    {
        byte[] message = [0x81, 0xA7, .. "actions"u8, .. TwoFloats]; // {"actions": array}
        var map = Assert.IsType<Dictionary<string, object?>>(OpenPiMsgpack.Unpack(message));
        var actions = Assert.IsType<NdArray>(map["actions"]);
        Assert.Equal([2], actions.Shape);
        Assert.Equal([1f, 2f], actions.ToFloats());
    }

    [Fact]
    public void Observations_round_trip_with_images_state_prompt_and_numpy_scalars()
    {
        var image = NdArray.FromBytes(Enumerable.Range(0, 2 * 2 * 3).Select(i => (byte)i).ToArray(), 2, 2, 3);
        var observation = new Dictionary<string, object?>
        {
            ["observation/image"] = image,
            ["observation/state"] = NdArray.FromFloats([0.5f, -1f, 3f]),
            ["prompt"] = "pick up the red cube",
            ["inference_delay"] = 3,
        };
        var back = Assert.IsType<Dictionary<string, object?>>(OpenPiMsgpack.Unpack(OpenPiMsgpack.Pack(observation)));
        Assert.Equal(image.Data, Assert.IsType<NdArray>(back["observation/image"]).Data);
        Assert.Equal("|u1", ((NdArray)back["observation/image"]!).Dtype);
        Assert.Equal([0.5f, -1f, 3f], ((NdArray)back["observation/state"]!).ToFloats());
        Assert.Equal("pick up the red cube", back["prompt"]);
        Assert.Equal(3L, back["inference_delay"]);

        // A NumPy scalar: {b"__npgeneric__": True, b"data": 42, b"dtype": "<i8"} reads as its value.
        byte[] scalar = [0x83, 0xC4, 13, .. "__npgeneric__"u8, 0xC3, 0xC4, 4, .. "data"u8, 42, 0xC4, 5, .. "dtype"u8, 0xA3, .. "<i8"u8];
        Assert.Equal(42L, OpenPiMsgpack.Unpack(scalar));
    }

    [Theory]
    [InlineData(new byte[] { 0x92, 0x01 }, "ends early")]
    [InlineData(new byte[] { 0x81, 0x01, 0x02 }, "not a string")]
    [InlineData(new byte[] { 0xC1 }, "not msgpack")]
    public void Malformed_messages_are_format_errors(byte[] message, string expected)
    {
        var e = Assert.Throws<FormatException>(() => OpenPiMsgpack.Unpack(message));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void An_array_whose_bytes_do_not_fit_its_shape_is_refused_and_deep_nesting_is_bounded()
    {
        var wrong = new NdArray("<f4", [3], new byte[8]);
        Assert.Contains("cannot hold 8 bytes", Assert.Throws<FormatException>(() => OpenPiMsgpack.Unpack(OpenPiMsgpack.Pack(wrong))).Message);
        byte[] deep = [.. Enumerable.Repeat((byte)0x91, 100), 0xC0];
        Assert.Contains("deeper than", Assert.Throws<FormatException>(() => OpenPiMsgpack.Unpack(deep)).Message);
    }
}
