using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Config;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using Vla.Data;
using Vla.Data.Loading;
using Vla.Data.Seed;

namespace Vla.Bench;

/// <summary>
/// Windows per second through the whole data pipeline (Parquet → decoded, resized, normalized batch
/// tensors) at 0, 1 and 2 decoding workers, and the per-image cost of decode, resize and CHW conversion
/// against the per-batch cost of building tensors, what checking frames costs when data is opened, and the loader's memory
/// over epochs. Merges its section <c>data</c> into latest.json.
/// </summary>
internal static class DataPipelineBench
{
    public static async Task RunAsync(string repoRoot, bool quick)
    {
        var config = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        var normalizer = new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax);
        int runs = quick ? 3 : 5;
        Console.WriteLine($"dataset: {dataset.Episodes.Count} episodes, {dataset.StepCount} windows; batch {config.Data.BatchSize}, 2 cameras, runs {runs}, threads {Environment.ProcessorCount}");
        Console.WriteLine();
        Console.WriteLine("| image size | workers | windows/s (median) | min | max |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        var section = new JsonObject { ["dataset"] = $"{dataset.Episodes.Count} episodes, {dataset.StepCount} windows", ["batch"] = config.Data.BatchSize, ["runs"] = runs };
        var rateFigures = new JsonObject();
        foreach (int size in new[] { 64, 224 })
        {
            var layout = CompareBench.Layout(config) with { ImageSize = size };
            foreach (int workers in new[] { 0, 1, 2 })
            {
                var loader = new BatchLoader(dataset, normalizer, layout, new LoaderOptions
                {
                    BatchSize = config.Data.BatchSize, NumWorkers = workers, Prefetch = config.Data.PrefetchBatches, Seed = 1,
                });
                int epoch = 0, windows = 0;
                var seconds = Measure.Seconds(() =>
                {
                    windows = 0;
                    foreach (var batch in loader.Epoch(epoch++))
                    {
                        windows += batch.Size;
                        batch.Dispose();
                    }
                }, runs);
                var rates = seconds.Select(s => windows / s).ToArray();
                Console.WriteLine($"| {size} | {workers} | {Measure.Median(rates):F0} | {rates.Min():F0} | {rates.Max():F0} |");
                rateFigures[$"{size}px_{workers}_workers"] = Math.Round(Measure.Median(rates));
            }
        }

        Console.WriteLine();
        Console.WriteLine("| stage (64 px PNG → 224 px) | µs per image (median) |");
        Console.WriteLine("|---|---:|");
        var images = dataset.Episodes.Take(8).SelectMany(e => e.Steps).Select(s => dataset.Images.Get(s, 1)!).ToList();
        const int target = 224;
        var chw = new float[3 * target * target];
        double PerImage(Action<byte[]> stage) =>
            Measure.Median(Measure.Seconds(() => { foreach (var bytes in images) stage(bytes); }, runs)) / images.Count * 1e6;
        double decode = PerImage(bytes => ImagePreprocessor.Decode(bytes, long.MaxValue).Dispose());
        double decodeResize = PerImage(bytes =>
        {
            using var image = ImagePreprocessor.Decode(bytes, long.MaxValue);
            ImagePreprocessor.Resize(image, target);
        });
        double all = PerImage(bytes => ImagePreprocessor.Preprocess(bytes, target, long.MaxValue, chw));
        Console.WriteLine($"| decode | {decode:F1} |");
        Console.WriteLine($"| bicubic resize | {decodeResize - decode:F1} |");
        Console.WriteLine($"| to CHW floats in [-1, 1] | {all - decodeResize:F1} |");

        var layout224 = CompareBench.Layout(config) with { ImageSize = target };
        var loader224 = new BatchLoader(dataset, normalizer, layout224, new LoaderOptions { BatchSize = config.Data.BatchSize, NumWorkers = 0 });
        var buffers = loader224.Build(loader224.Windows.Take(config.Data.BatchSize).ToList());
        double tensor = Measure.Median(Measure.Seconds(() =>
        {
            using var scope = torch.NewDisposeScope();
            VlaBatch.FromBuffers(buffers, Vla.Model.PolicyTransform.None);
        }, runs * 4));
        Console.WriteLine($"| tensor build, per image of a {config.Data.BatchSize}×2-camera batch | {tensor / (config.Data.BatchSize * 2) * 1e6:F1} |");
        section["windows_per_s"] = rateFigures;
        section["us_per_image_64px_png_to_224"] = new JsonObject
        {
            ["decode"] = Math.Round(decode, 1), ["bicubic_resize"] = Math.Round(decodeResize - decode, 1), ["to_chw"] = Math.Round(all - decodeResize, 1),
            ["tensor_build"] = Math.Round(tensor / (config.Data.BatchSize * 2) * 1e6, 1),
        };
        section["frame_checks"] = await ValidationCostAsync(config, dataset, runs);

        Console.WriteLine();
        Console.WriteLine("| epochs (224 px, 2 workers) | process RSS, MB |");
        Console.WriteLine("|---:|---:|");
        var rssLoader = new BatchLoader(dataset, normalizer, layout224, new LoaderOptions { BatchSize = config.Data.BatchSize, NumWorkers = 2, Seed = 1 });
        int epochs = quick ? 4 : 10;
        var rss = new JsonObject();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            foreach (var batch in rssLoader.Epoch(epoch)) batch.Dispose();
            if (epoch == 1 || epoch == epochs / 2 || epoch == epochs)
            {
                GC.Collect();
                double mb = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64 / 1048576.0;
                Console.WriteLine($"| {epoch} | {mb:F0} |");
                rss[$"after_epoch_{epoch}"] = Math.Round(mb);
            }
        }
        section["rss_mb_224px_2_workers"] = rss;
        BenchRecord.Merge(repoRoot, "data", section, quick);
    }

    /// <summary>
    /// What checking every frame costs when the data is opened: no check (<c>data.verify_images: false</c>), the header and
    /// cut-file check training does by default, and the full decode <c>vla inspect</c> does; on the sample (64 px PNG) and on
    /// its first 8 episodes re-encoded as 640×480 JPEG, the size a real robot camera records.
    /// </summary>
    private static async Task<JsonObject> ValidationCostAsync(VlaConfig config, EpisodeDataset sample, int runs)
    {
        string folder = Directory.CreateTempSubdirectory("vla-bench-frames-").FullName;
        var result = new JsonObject();
        try
        {
            var rows = sample.Episodes.Take(8).Select(e => (IReadOnlyList<StepRow>)e.Steps.Select(s => new StepRow(
                CameraJpeg(sample.Images.Get(s, 1)!), CameraJpeg(sample.Images.Get(s, 2)!), s.State, s.Action, s.IsFirst, s.IsLast, s.IsTerminal, s.Prompt)).ToList()).ToList();
            string camera = Path.Combine(folder, "camera.parquet");
            await SeedEpisodeWriter.WriteAsync(camera, rows);
            Console.WriteLine();
            Console.WriteLine("| opening the data, every frame | sample (64 px PNG) ms | per frame µs | 640×480 JPEG ms | per frame µs |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            var options = DataOptions.From(config);
            foreach (var (name, key, check) in new[]
            {
                ("not checked (verify_images: false)", "unchecked", options with { VerifyImages = false }),
                ("header and cut-file check (training's default)", "header_and_cut_check", options),
                ("full decode (vla inspect)", "full_decode", options with { DecodeImages = true }),
            })
            {
                var figures = new List<string>();
                foreach (var (paths, frames, data) in new[] { (config.Data.TrainParquetFiles, sample.StepCount * 2, "sample_64px_png"), ([camera], rows.Sum(r => r.Count) * 2, "camera_640x480_jpeg") })
                {
                    double seconds = Measure.Median(Measure.Seconds(() => EpisodeDataset.OpenAsync(paths, check, config.BaseDirectory).GetAwaiter().GetResult(), runs));
                    figures.Add($"{seconds * 1e3:F0} | {seconds / frames * 1e6:F1}");
                    (result[data] ??= new JsonObject()).AsObject()[$"{key}_us_per_frame"] = Math.Round(seconds / frames * 1e6, 1);
                }
                Console.WriteLine($"| {name} | {string.Join(" | ", figures)} |");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        return result;
    }

    private static byte[] CameraJpeg(byte[] png)
    {
        using var image = ImagePreprocessor.Decode(png, long.MaxValue);
        image.Mutate(x => x.Resize(640, 480));
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream);
        return stream.ToArray();
    }
}
