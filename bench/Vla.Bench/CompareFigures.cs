using System.Text.Json.Nodes;

namespace Vla.Bench;

/// <summary>Paired measurements: each side's median over the pairs, the median of the per-pair ratios ours ÷ twin, and those ratios.</summary>
/// <param name="OursMs">Our block medians, one a pair.</param>
/// <param name="TwinMs">The twin's, one a pair (empty without a twin).</param>
internal sealed record Paired(double[] OursMs, double[] TwinMs)
{
    public double Ours => Measure.Median(OursMs);
    public double Twin => TwinMs.Length == 0 ? double.NaN : Measure.Median(TwinMs);
    public double[] Ratios => OursMs.Zip(TwinMs, (o, t) => o / t).ToArray();
    public double Ratio => TwinMs.Length == 0 ? double.NaN : Measure.Median(Ratios);
    public double MinRatio => Ratios.Min();
    public double MaxRatio => Ratios.Max();

    /// <summary>"min–max" of the ratios.</summary>
    public string SpreadText => $"{Round(MinRatio, 3)}–{Round(MaxRatio, 3)}";

    public JsonObject Spread() => TwinMs.Length == 0 ? new JsonObject() : new JsonObject
    {
        ["min"] = Round(MinRatio, 3), ["max"] = Round(MaxRatio, 3),
        ["pairs"] = new JsonArray(Ratios.Select(r => JsonValue.Create(Round(r, 3))).ToArray()),
        ["ours_ms"] = new JsonArray(OursMs.Select(r => JsonValue.Create(Round(r))).ToArray()),
        ["pytorch_ms"] = new JsonArray(TwinMs.Select(r => JsonValue.Create(Round(r))).ToArray()),
    };

    internal static double Round(double v, int digits = 1) => Math.Round(v, digits);
}

/// <summary>One config in one dtype, measured by <c>compare</c>: ours beside the PyTorch twin's where there is one.</summary>
internal sealed record ConfigFigures
{
    public required string Dtype { get; init; }
    /// <summary>Windows per second of the data pipeline (the best of 0 and 2 workers); null when not measured (bfloat16).</summary>
    public required double? DataWindowsPerSecond { get; init; }
    public required Paired TrainStep { get; init; }
    /// <summary>Medians of our paired steps' forward, backward and optimizer milliseconds.</summary>
    public required (double Forward, double Backward, double Optimizer) TrainStepSplit { get; init; }
    public required Paired Chunk { get; init; }
    public required double BackboneMs { get; init; }
    public required double? TwinBackboneMs { get; init; }
    public required int Pairs { get; init; }
    public required int RunsPerPair { get; init; }
    /// <summary>Matmul FLOP of one training step.</summary>
    public required double TrainStepFlop { get; init; }
    public required double PeakRssMb { get; init; }
    public required double? RssGrowthMb { get; init; }
    public required IReadOnlyList<double> RssTrace { get; init; }
    public required string RssNote { get; init; }
    public required long Params { get; init; }
    public required long? TwinParams { get; init; }
    public required int Batch { get; init; }

    public double TrainWindowsPerSecond => Batch / (TrainStep.Ours / 1000);

    /// <summary>Model FLOP utilization against a machine matmul rate of <paramref name="gflops"/>.</summary>
    public double Mfu(double gflops) => TrainStepFlop / 1e9 / (TrainStep.Ours / 1000) / gflops;

    private static double Round(double v, int digits = 1) => Paired.Round(v, digits);

    /// <summary>The figures as latest.json holds them, MFU against <paramref name="gflops"/>.</summary>
    public JsonObject ToJson(double gflops) => new()
    {
        ["dtype"] = Dtype,
        ["data_windows_per_s"] = DataWindowsPerSecond is double d ? Round(d) : null,
        ["train_windows_per_s"] = Round(TrainWindowsPerSecond, 2),
        ["data_to_train_ratio"] = DataWindowsPerSecond is double r ? Round(r / TrainWindowsPerSecond, 1) : null,
        ["train_step_ms"] = new JsonObject { ["ours"] = Round(TrainStep.Ours), ["pytorch"] = Round(TrainStep.Twin) },
        ["train_step_ratio"] = Round(TrainStep.Ratio, 3),
        ["train_step_ratio_spread"] = TrainStep.Spread(),
        ["train_step_split_ms"] = new JsonObject
        {
            ["forward"] = Round(TrainStepSplit.Forward), ["backward"] = Round(TrainStepSplit.Backward), ["optimizer"] = Round(TrainStepSplit.Optimizer),
        },
        ["chunk_latency_ms"] = new JsonObject { ["ours"] = Round(Chunk.Ours), ["pytorch"] = Round(Chunk.Twin) },
        ["chunk_latency_ratio"] = Round(Chunk.Ratio, 3),
        ["chunk_latency_ratio_spread"] = Chunk.Spread(),
        ["backbone_ms"] = new JsonObject { ["ours"] = Round(BackboneMs), ["pytorch"] = TwinBackboneMs is double t ? Round(t) : null },
        ["pairs"] = Pairs,
        ["runs_per_pair"] = RunsPerPair,
        ["train_step_gflop"] = Round(TrainStepFlop / 1e9, 2),
        ["mfu"] = Round(Mfu(gflops), 3),
        ["peak_rss_mb"] = Round(PeakRssMb),
        ["rss_growth_mb_200_steps"] = RssGrowthMb is double g ? Round(g) : null,
        ["rss_mb_every_50_steps"] = new JsonArray(RssTrace.Select(v => JsonValue.Create(Round(v))).ToArray()),
        ["rss_growth_note"] = RssNote,
        ["params"] = new JsonObject { ["ours"] = Params, ["pytorch"] = TwinParams },
    };
}

/// <summary>float32 against bfloat16 for one config, ours and the twin's.</summary>
internal sealed record PrecisionFigures(ConfigFigures Fp32, ConfigFigures Bf16, double Bf16Gflops)
{
    private static double Round(double v, int digits = 1) => Paired.Round(v, digits);

    public double Bf16OverFp32Step => Bf16.TrainStep.Ours / Fp32.TrainStep.Ours;
    public double Bf16OverFp32Chunk => Bf16.Chunk.Ours / Fp32.Chunk.Ours;

    public JsonObject ToJson() => new()
    {
        ["fp32_train_ms"] = Round(Fp32.TrainStep.Ours), ["bf16_train_ms"] = Round(Bf16.TrainStep.Ours), ["bf16_over_fp32_train_step"] = Round(Bf16OverFp32Step, 3),
        ["fp32_chunk_ms"] = Round(Fp32.Chunk.Ours), ["bf16_chunk_ms"] = Round(Bf16.Chunk.Ours), ["bf16_over_fp32_chunk"] = Round(Bf16OverFp32Chunk, 3),
        ["pytorch_bf16_train_ms"] = Round(Bf16.TrainStep.Twin), ["train_step_ratio_bf16"] = Round(Bf16.TrainStep.Ratio, 3),
        ["train_step_ratio_bf16_spread"] = Bf16.TrainStep.Spread(),
        ["pytorch_bf16_chunk_ms"] = Round(Bf16.Chunk.Twin), ["chunk_latency_ratio_bf16"] = Round(Bf16.Chunk.Ratio, 3),
        ["chunk_latency_ratio_bf16_spread"] = Bf16.Chunk.Spread(),
        ["fp32_backbone_ms"] = Round(Fp32.BackboneMs), ["bf16_backbone_ms"] = Round(Bf16.BackboneMs),
        ["bf16_train_step_split_ms"] = new JsonObject
        {
            ["forward"] = Round(Bf16.TrainStepSplit.Forward), ["backward"] = Round(Bf16.TrainStepSplit.Backward), ["optimizer"] = Round(Bf16.TrainStepSplit.Optimizer),
        },
        ["mfu_bf16"] = Round(Fp32.TrainStepFlop / 1e9 / (Bf16.TrainStep.Ours / 1000) / Bf16Gflops, 3),
    };
}
