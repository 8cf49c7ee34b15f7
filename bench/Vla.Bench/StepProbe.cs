using System.Diagnostics;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Tokenization;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>Training steps of one config on one fixed batch, nothing else: per-step milliseconds, kernel time and page faults, for A/B runs of one lever.</summary>
internal static class StepProbe
{
    public static async Task RunAsync(string repoRoot, string name, int steps)
    {
        var sample = ConfigLoader.Load(Path.Combine(repoRoot, "configs", "sample.yaml"));
        sample = sample with { Data = sample.Data with { BatchSize = 8 } };
        var (config, backbone) = name == "mid" ? (TrainingBench.Mid(sample), TrainingBench.MidBackbone()) : (sample, PaliGemmaConfig.Sample());
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        var normalizer = new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax);
        using var batch = new BatchLoader(dataset, normalizer, BatchLayout.From(config), new LoaderOptions { BatchSize = 8, NumWorkers = 0, Seed = 1 }).Epoch(0).First();
        manual_seed(1);
        using var model = new VlaModel(config, new PaliGemmaBackbone(backbone), tokenizer);
        model.Backbone.InitializeWeights(1);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = optim.AdamW(parameters, 1e-4);
        using var generator = new Generator(1);
        var self = Process.GetCurrentProcess();
        var times = new List<double>();
        TimeSpan sys0 = default;
        long faults0 = 0;
        for (int step = 0; step < steps + 2; step++)
        {
            if (step == 2) { self.Refresh(); sys0 = self.PrivilegedProcessorTime; faults0 = MinorFaults(); }
            double ms = CompareBench.TrainStep(model, batch, parameters, optimizer, generator).Sum();
            if (step >= 2) times.Add(ms);
        }
        self.Refresh();
        Console.WriteLine($"{name}: {steps} steps, median {Measure.Median(times.ToArray()):F1} ms, kernel {(self.PrivilegedProcessorTime - sys0).TotalSeconds / steps:F2} s/step, " +
                          $"{(MinorFaults() - faults0) / steps} page faults/step, RSS {Measure.ProcStatusMb("VmRSS"):F0} MB");
    }

    private static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);
}
