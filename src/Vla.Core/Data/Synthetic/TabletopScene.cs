using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Vla.Data.Synthetic;

/// <summary>A cube on the table: colour name, RGB, centre (metres) and yaw (radians).</summary>
public sealed record Cube(string Color, Rgb24 Rgb, float X, float Y, float Yaw);

/// <summary>
/// A top-down tabletop: a square table of side 2·<see cref="HalfExtent"/> metres with coloured cubes and a
/// gripper. Renders the overhead camera (whole table) and the wrist camera (the patch under the gripper,
/// wider the higher it is) by sampling one colour function, so both views always agree.
/// </summary>
public sealed class TabletopScene
{
    /// <summary>Half the table side, in metres.</summary>
    public const float HalfExtent = 0.3f;
    /// <summary>Half a cube's side, in metres.</summary>
    public const float CubeHalf = 0.025f;

    private static readonly Rgb24 Table = new(196, 164, 120);
    private static readonly Rgb24 Gripper = new(40, 40, 48);
    private static readonly PngEncoder Png = new() { CompressionLevel = PngCompressionLevel.BestCompression, ColorType = PngColorType.Rgb };

    /// <summary>The cubes on the table.</summary>
    public List<Cube> Cubes { get; } = [];

    /// <summary>Index of the cube held by the gripper, or -1.</summary>
    public int Held { get; set; } = -1;

    /// <summary>Renders the overhead view with the gripper at <paramref name="state"/> as PNG bytes.</summary>
    public byte[] RenderTop(float[] state, int size) => Encode(size, (px, py) =>
    {
        float x = (px + 0.5f) / size * 2 * HalfExtent - HalfExtent;
        float y = HalfExtent - (py + 0.5f) / size * 2 * HalfExtent;
        return GripperMark(state, x, y) ?? SceneColor(state, x, y);
    });

    /// <summary>Renders the wrist view: the table under the gripper, field of view growing with height, fingers at the sides.</summary>
    public byte[] RenderWrist(float[] state, int size)
    {
        float half = 0.04f + 0.5f * Math.Max(state[2], 0f);
        float yaw = state[5];
        float cos = MathF.Cos(yaw), sin = MathF.Sin(yaw);
        float opening = Math.Clamp(state[6], 0f, 1f);
        return Encode(size, (px, py) =>
        {
            float u = ((px + 0.5f) / size * 2 - 1), v = (1 - (py + 0.5f) / size * 2);
            // Fingers: two dark bars whose gap follows the gripper opening.
            float gap = 0.25f + 0.55f * opening;
            if (Math.Abs(v) < 0.35f && Math.Abs(Math.Abs(u) - gap) < 0.08f) return Gripper;
            float x = state[0] + half * (u * cos - v * sin);
            float y = state[1] + half * (u * sin + v * cos);
            return SceneColor(state, x, y);
        });
    }

    private Rgb24 SceneColor(float[] state, float x, float y)
    {
        if (Math.Abs(x) > HalfExtent || Math.Abs(y) > HalfExtent) return new Rgb24(90, 90, 90);
        for (int i = 0; i < Cubes.Count; i++)
        {
            var c = Cubes[i];
            var (cx, cy) = i == Held ? (state[0], state[1]) : (c.X, c.Y);
            float dx = x - cx, dy = y - cy;
            float cos = MathF.Cos(-c.Yaw), sin = MathF.Sin(-c.Yaw);
            float lx = dx * cos - dy * sin, ly = dx * sin + dy * cos;
            float extent = Math.Max(Math.Abs(lx), Math.Abs(ly));
            if (extent <= CubeHalf)
                return extent > CubeHalf * 0.75f ? Shade(c.Rgb, 0.7f) : c.Rgb; // darker rim reads as an edge
            if (i != Held && Math.Abs(lx - 0.008f) <= CubeHalf && Math.Abs(ly + 0.008f) <= CubeHalf)
                return Shade(Table, 0.75f); // shadow
        }
        return Table;
    }

    private static Rgb24? GripperMark(float[] state, float x, float y)
    {
        float dx = x - state[0], dy = y - state[1];
        float r = MathF.Sqrt(dx * dx + dy * dy);
        float radius = 0.02f + 0.08f * Math.Max(state[2], 0f); // higher looks larger from above
        bool closed = state[6] < 0.5f;
        if (closed ? r <= radius * 0.6f : Math.Abs(r - radius) < 0.006f) return Gripper;
        return null;
    }

    private static Rgb24 Shade(Rgb24 c, float f) => new((byte)(c.R * f), (byte)(c.G * f), (byte)(c.B * f));

    private static byte[] Encode(int size, Func<int, int, Rgb24> pixel)
    {
        using var image = new Image<Rgb24>(size, size);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                image[x, y] = pixel(x, y);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, Png);
        return stream.ToArray();
    }
}
