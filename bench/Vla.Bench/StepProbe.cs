using System.Diagnostics;
using Vla.Data;
using Vla.Model.Tokenization;
using Vla.Training;
using static TorchSharp.torch;

namespace Vla.Bench;

/// <summary>Training steps of one config on one fixed batch, nothing else: per-step milliseconds, kernel time and page faults, for A/B runs of one lever.</summary>
internal static class StepProbe
{
    public static async Task RunAsync(string repoRoot, string name, int steps)
    {
        var (config, backbone) = CompareBench.ConfigNamed(repoRoot, name);
        var tokenizer = PaliGemmaTokenizer.Load(Path.Combine(repoRoot, "data-samples", "tiny-paligemma"));
        var dataset = await EpisodeDataset.OpenAsync(config, validation: false);
        using var batch = CompareBench.FirstBatch(dataset, new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax), config, tokenizer);
        using var model = CompareBench.SeededModel(config, backbone);
        using var trainStep = new TrainStep(model, config);
        using var noise = new StepNoise(1);
        var self = Process.GetCurrentProcess();
        var times = new List<double>();
        TimeSpan sys0 = default;
        long faults0 = 0;
        for (int step = 0; step < steps + 2; step++)
        {
            if (step == 2) { self.Refresh(); sys0 = self.PrivilegedProcessorTime; faults0 = Measure.MinorPageFaults(); }
            double ms = 1000 * trainStep.Run(batch, noise, config.Optimizer.Lr).Times.Compute;
            if (step >= 2) times.Add(ms);
        }
        self.Refresh();
        Console.WriteLine($"{name}: {steps} steps, median {Measure.Median(times.ToArray()):F1} ms, kernel {(self.PrivilegedProcessorTime - sys0).TotalSeconds / steps:F2} s/step, " +
                          $"{(Measure.MinorPageFaults() - faults0) / steps} page faults/step, RSS {Measure.ProcStatusMb("VmRSS"):F0} MB");
    }
}
