using Vla.Config;
using Vla.Data;
using Vla.Evaluation;
using Vla.Inference;

namespace Vla.Tests.Inference;

/// <summary>A policy that only samples (no network, no checkpoint) runs unchanged through the predictor, the evaluator and replays.</summary>
[Collection(ProcessWide.Name)]
public sealed class SamplingPolicyTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private async Task<(VlaPredictor Predictor, MeanChunkPolicy Policy, EpisodeDataset Dataset, string Path)> BaselineAsync()
    {
        string path = _files.Write("data/a.parquet", Enumerable.Range(0, 3).Select(i => TestFiles.Episode(4 + i, offset: 2 * i)));
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions());
        var stats = NormalizationStats.Compute(dataset);
        var data = new DataConfig { StateDim = 3, ImageSize = 8, BatchSize = 4, NumWorkers = 0 };
        var policy = new MeanChunkPolicy(MeanChunkPolicy.Spec(cameras: 2, imageSize: 8, stateDim: 3, horizon: 3, actionDim: 2),
            new Normalizer(stats, NormalizationMode.MinMax));
        return (new VlaPredictor(policy, stats, data, "mean-chunk baseline"), policy, dataset, path);
    }

    [Fact]
    public async Task The_predictor_gives_the_baseline_its_data_mean_in_the_datas_units()
    {
        var (predictor, _, dataset, _) = await BaselineAsync();
        var frame = TestFiles.Png(8, 8, new SixLabors.ImageSharp.PixelFormats.Rgb24(1, 2, 3));
        var chunk = predictor.Predict(new RobotObservation([frame], [frame], "pick up the red cube", null));
        var mean = NormalizationStats.Compute(dataset).Action.Mean;
        Assert.Equal((3, 2), (chunk.Horizon, chunk.PerActionDim));
        for (int h = 0; h < 3; h++)
            for (int d = 0; d < 2; d++) Assert.Equal(mean[d], chunk[h, d], 1e-4f);
    }

    [Fact]
    public async Task The_evaluator_scores_the_baseline_exactly_as_its_own_baseline_column()
    {
        var (predictor, policy, _, path) = await BaselineAsync();
        var result = await Evaluator.RunAsync(predictor, [path], new EvalOptions());
        Assert.Equal(result.Combined.Baseline.Mse, result.Combined.Overall.Mse, 1e-6);
        Assert.Equal(15, result.Combined.Windows);                // 4 + 5 + 6 windows, in batches of 4
        Assert.Equal([4L, 4, 4, 3], policy.Calls);
        Assert.Equal("mean-chunk baseline", result.Checkpoint);
    }

    [Fact]
    public async Task A_replay_of_the_baseline_never_jumps_at_a_chunk_switch()
    {
        var (predictor, _, dataset, _) = await BaselineAsync();
        var replay = ChunkReplay.Run(predictor, dataset, new ReplayOptions(Delay: 1, Execute: 2, Rtc: true));
        Assert.Equal(["naive", "rtc"], replay.Modes.Select(m => m.Mode));
        Assert.All(replay.Modes, m => Assert.Equal(0, m.MaxJump, 1e-6));   // every chunk is the same constant chunk
        Assert.Equal(replay.Modes[0].Mse, replay.Modes[1].Mse, 1e-9);
    }
}
