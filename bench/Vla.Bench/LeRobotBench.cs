using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vla.Data;
using Vla.Data.LeRobot;
using Vla.Data.Loading;
using Vla.Config;

namespace Vla.Bench;

/// <summary>
/// The LeRobot video path on the committed v2.1 sample (tests/data/lerobot-g1-v21: three 640×480 AV1 episodes): frames per second
/// our decoder delivers at 224 px (ffmpeg decode + bicubic scale + RGB pipe + frame times) against <c>ffmpeg -i FILE -f null -</c>
/// on the same files and threads (the decoder's own bound), and windows per second of the whole loader at 224 px, cold (every
/// episode decoded on the way) and warm (frames in the cache), against what the mid model's training consumes. Writes
/// <c>lerobot</c> into latest.json.
/// </summary>
internal static class LeRobotBench
{
    public static async Task RunAsync(string repoRoot, bool quick)
    {
        VideoDecoder.RequireFfmpeg();
        string root = Path.Combine(repoRoot, "tests", "data", "lerobot-g1-v21");
        var videos = Directory.EnumerateFiles(Path.Combine(root, "videos"), "*.mp4", SearchOption.AllDirectories).Order().ToList();
        int runs = quick ? 3 : 5;
        const int size = 224;
        const double fps = 30;

        // Alternate the two sides run by run, so a neighbour's load lands on both.
        var durations = new Dictionary<string, double>();
        foreach (var video in videos) durations[video] = (await VideoDecoder.ProbeAsync(video, CancellationToken.None)).Duration; // once, as the loader does at open
        var ours = new List<double>();
        var bound = new List<double>();
        long frames = 0;
        for (int run = 0; run <= runs; run++)
        {
            var watch = Stopwatch.StartNew();
            frames = 0;
            foreach (var video in videos)
                frames += (await VideoDecoder.DecodeAsync(video, 0, durations[video], fps, size)).Times.Length;
            double oursSeconds = watch.Elapsed.TotalSeconds;
            watch.Restart();
            foreach (var video in videos) NullDecode(video);
            double boundSeconds = watch.Elapsed.TotalSeconds;

            if (run == 0) continue; // warm-up
            ours.Add(frames / oursSeconds);
            bound.Add(frames / boundSeconds);
            Console.WriteLine($"run {run}: ours {frames / oursSeconds:F0} fps, ffmpeg -f null {frames / boundSeconds:F0} fps");
        }
        var ratios = ours.Zip(bound, (a, b) => a / b).ToArray();

        var options = new DataOptions { Episodes = EpisodeSelection.Parse(["41:44"], "bench"), ImageSize = size, StateDim = 26, PerActionDim = 26 };
        var layout = new BatchLayout(Cameras: 1, ImageSize: size, StateDim: 26, Horizon: 4, PerActionDim: 26);
        var cold = new List<double>();
        var warm = new List<double>();
        for (int run = 0; run < runs; run++)
        {
            var dataset = await EpisodeDataset.OpenAsync([root], options); // a fresh, empty frame cache
            var loader = new BatchLoader(dataset, new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax), layout,
                new LoaderOptions { BatchSize = 16, NumWorkers = 2, Prefetch = 4, Seed = run });
            foreach (var (epoch, list) in new[] { (0, cold), (1, warm) })
            {
                var watch = Stopwatch.StartNew();
                int windows = 0;
                foreach (var batch in loader.Epoch(epoch))
                {
                    windows += batch.Size;
                    batch.Dispose();
                }
                list.Add(windows / watch.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"run {run + 1}: loader cold {cold[^1]:F0} windows/s, warm {warm[^1]:F0} windows/s");
        }

        // A dataset larger than the cache: a 1 MB cache holds no segment, so every shuffled window decodes one (the worst case).
        double thrashing;
        {
            var dataset = await EpisodeDataset.OpenAsync([root], options with { VideoCacheBytes = 1 << 20 });
            var loader = new BatchLoader(dataset, new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax), layout,
                new LoaderOptions { BatchSize = 16, NumWorkers = 2, Prefetch = 4, Seed = 7 });
            var watch = Stopwatch.StartNew();
            int windows = 0;
            foreach (var batch in loader.Epoch(0).Take(quick ? 3 : 6))
            {
                windows += batch.Size;
                batch.Dispose();
            }
            thrashing = windows / watch.Elapsed.TotalSeconds;
            Console.WriteLine($"loader with a 1 MB cache (every window decodes a {VideoFrameSource.SegmentRows}-row segment): {thrashing:F1} windows/s");
        }

        // What the mid config's training consumes, from compare's section (measured apart; see bench/README.md).
        double midConsumes = BenchRecord.Read(repoRoot)["compare"]?["configs"]?["mid"]?["train_windows_per_s"]?.GetValue<double>() ?? double.NaN;
        static double R(double v, int digits = 1) => Math.Round(v, digits);
        var result = new JsonObject
        {
            ["ffmpeg"] = FfmpegVersion(),
            ["data"] = "tests/data/lerobot-g1-v21: 3 episodes, 1193 frames, 640x480 AV1 (libdav1d), 30 fps",
            ["runs"] = runs,
            ["threads"] = Environment.ProcessorCount,
            ["decode_fps"] = R(Measure.Median([.. ours])),
            ["ffmpeg_null_fps"] = R(Measure.Median([.. bound])),
            ["decode_to_bound_ratio"] = R(Measure.Median(ratios), 3),
            ["decode_to_bound_ratio_range"] = new JsonArray(R(ratios.Min(), 3), R(ratios.Max(), 3)),
            ["windows_per_s_224"] = R(Measure.Median([.. warm])),
            ["windows_per_s_224_cold"] = R(Measure.Median([.. cold])),
            ["windows_per_s_224_cache_1mb"] = R(thrashing),
            ["mid_train_windows_per_s"] = midConsumes,
            ["loader_to_mid_training_ratio"] = R(Measure.Median([.. warm]) / midConsumes),
            ["loader_to_mid_training_ratio_cold"] = R(Measure.Median([.. cold]) / midConsumes),
            ["loader_to_mid_training_ratio_cache_1mb"] = R(thrashing / midConsumes),
        };
        Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        BenchRecord.Merge(repoRoot, "lerobot", result, quick);
    }

    private static string FfmpegVersion()
    {
        using var process = Process.Start(new ProcessStartInfo("ffmpeg", ["-version"]) { RedirectStandardOutput = true })!;
        string first = process.StandardOutput.ReadLine() ?? "";
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return first.Split(' ').Skip(2).FirstOrDefault() ?? "unknown";
    }

    /// <summary><c>ffmpeg -i FILE -f null -</c>: decoding alone, default threads (as ours).</summary>
    private static void NullDecode(string video)
    {
        using var process = Process.Start(new ProcessStartInfo("ffmpeg", ["-v", "error", "-nostdin", "-i", video, "-f", "null", "-"]) { RedirectStandardError = true })!;
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"ffmpeg -f null failed on {video}");
    }
}
