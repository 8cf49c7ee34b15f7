using SixLabors.ImageSharp.PixelFormats;
using Vla.Data.Seed;

namespace Vla.Data.Synthetic;

/// <summary>
/// Writes the deterministic synthetic tabletop dataset behind <c>vla make-sample-data</c>: 2–3 coloured cubes,
/// a scripted expert picking the cube the prompt names ("pick up the red cube"), overhead and wrist
/// cameras, 7-dimensional state [x, y, z, roll, pitch, yaw, gripper] and action
/// [dx, dy, dz, droll, dpitch, dyaw, gripper_cmd]. The same first image with another prompt needs other
/// actions, so a policy must read the instruction.
/// </summary>
public static class SampleDataGenerator
{
    private static readonly (string Name, Rgb24 Rgb)[] Colors =
    [
        ("red", new Rgb24(210, 40, 40)), ("green", new Rgb24(40, 170, 60)),
        ("blue", new Rgb24(40, 80, 210)), ("yellow", new Rgb24(230, 200, 40)),
    ];

    /// <summary>What to generate.</summary>
    public sealed record Options
    {
        /// <summary>Training episodes.</summary>
        public int TrainEpisodes { get; init; } = 60;
        /// <summary>Validation episodes.</summary>
        public int ValEpisodes { get; init; } = 15;
        /// <summary>Episodes per Parquet file (one row group each).</summary>
        public int EpisodesPerFile { get; init; } = 20;
        /// <summary>Image side in pixels.</summary>
        public int ImageSize { get; init; } = 64;
        /// <summary>Seed; the output is a pure function of the options.</summary>
        public int Seed { get; init; } = 7;
        /// <summary>Shortest episode.</summary>
        public int MinSteps { get; init; } = 20;
        /// <summary>Longest episode.</summary>
        public int MaxSteps { get; init; } = 40;
    }

    /// <summary>Writes <c>train/</c> and <c>val/</c> under <paramref name="outputDir"/>; returns the files written.</summary>
    public static async Task<List<string>> WriteAsync(string outputDir, Options options, CancellationToken ct = default)
    {
        var written = new List<string>();
        var random = new Random(options.Seed);
        foreach (var (split, count) in new[] { ("train", options.TrainEpisodes), ("val", options.ValEpisodes) })
        {
            var episodes = Enumerable.Range(0, count).Select(_ => Episode(random, options)).ToList();
            for (int f = 0; f * options.EpisodesPerFile < count; f++)
            {
                string path = Path.Combine(outputDir, split, $"episodes-{f:D3}.parquet");
                await SeedEpisodeWriter.WriteAsync(path, episodes.Skip(f * options.EpisodesPerFile).Take(options.EpisodesPerFile), ct: ct);
                written.Add(path);
            }
        }
        return written;
    }

    /// <summary>One episode: a random scene, a random target, the expert's steps until the cube is lifted.</summary>
    internal static List<StepRow> Episode(Random random, Options options)
    {
        var scene = new TabletopScene();
        int cubes = random.Next(2, 4);
        var palette = Colors.OrderBy(_ => random.Next()).Take(cubes).ToArray();
        foreach (var (name, rgb) in palette)
        {
            float x, y;
            do
            {
                x = Uniform(random, -0.22f, 0.22f);
                y = Uniform(random, -0.22f, 0.22f);
            } while (scene.Cubes.Any(c => MathF.Abs(c.X - x) < 0.1f && MathF.Abs(c.Y - y) < 0.1f));
            scene.Cubes.Add(new Cube(name, rgb, x, y, Uniform(random, -0.6f, 0.6f)));
        }
        int target = random.Next(cubes);
        string prompt = $"pick up the {scene.Cubes[target].Color} cube";
        var state = new[] { Uniform(random, -0.25f, 0.25f), Uniform(random, -0.25f, 0.25f), ScriptedExpert.TravelHeight,
            0f, 0f, Uniform(random, -0.3f, 0.3f), 1f };

        var rows = new List<StepRow>();
        bool holding = false;
        int liftedSteps = 0;
        while (rows.Count < options.MaxSteps)
        {
            var action = ScriptedExpert.Act(state, scene.Cubes[target], holding);
            rows.Add(new StepRow(scene.RenderTop(state, options.ImageSize), scene.RenderWrist(state, options.ImageSize),
                (float[])state.Clone(), action, rows.Count == 0, false, false, prompt));
            var next = (float[])state.Clone();
            for (int d = 0; d < 6; d++) next[d] += action[d];
            next[6] = action[6];
            if (!holding && next[6] < 0.5f)
            {
                holding = true;
                scene.Held = target;
            }
            if (holding && next[2] >= ScriptedExpert.TravelHeight - 1e-4f) liftedSteps++;
            state = next;
            if (liftedSteps >= 2 && rows.Count >= options.MinSteps) break;
        }
        rows[^1] = rows[^1] with { IsLast = true, IsTerminal = true };
        return rows;
    }

    private static float Uniform(Random random, float lo, float hi) => lo + (float)random.NextDouble() * (hi - lo);
}
