using TorchSharp;
using Vla.Config;
using Vla.Data;

namespace Vla.Bench;

/// <summary>
/// Windows per second through the whole data pipeline (Parquet → decoded, resized, normalized batch
/// tensors) at 0, 1 and 2 decoding workers, and the per-image cost of decode, resize and CHW conversion
/// against the per-batch cost of building tensors.
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
        foreach (int size in new[] { 64, 224 })
        {
            var layout = BatchLayout.From(config) with { ImageSize = size };
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

        var layout224 = BatchLayout.From(config) with { ImageSize = target };
        var loader224 = new BatchLoader(dataset, normalizer, layout224, new LoaderOptions { BatchSize = config.Data.BatchSize, NumWorkers = 0 });
        var buffers = loader224.Build(loader224.Windows.Take(config.Data.BatchSize).ToList());
        double tensor = Measure.Median(Measure.Seconds(() =>
        {
            using var scope = torch.NewDisposeScope();
            VlaBatch.FromBuffers(buffers);
        }, runs * 4));
        Console.WriteLine($"| tensor build, per image of a {config.Data.BatchSize}×2-camera batch | {tensor / (config.Data.BatchSize * 2) * 1e6:F1} |");
    
        Console.WriteLine();
        Console.WriteLine("| epochs (224 px, 2 workers) | process RSS, MB |");
        Console.WriteLine("|---:|---:|");
        var rssLoader = new BatchLoader(dataset, normalizer, layout224, new LoaderOptions { BatchSize = config.Data.BatchSize, NumWorkers = 2, Seed = 1 });
        int epochs = quick ? 4 : 10;
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            foreach (var batch in rssLoader.Epoch(epoch)) batch.Dispose();
            if (epoch == 1 || epoch == epochs / 2 || epoch == epochs)
            {
                GC.Collect();
                Console.WriteLine($"| {epoch} | {System.Diagnostics.Process.GetCurrentProcess().WorkingSet64 / 1048576.0:F0} |");
            }
        }
    }
}
