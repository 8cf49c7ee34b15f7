using Vla.Data;
using Vla.Inference;
using Vla.Runtime;
using Vla.Tests.Training;

namespace Vla.Tests.Inference;

[Collection(ProcessWide.Name)]
public sealed class VlaPredictorTests(TrainedCheckpoint trained)
{
    private readonly string _checkpoint = trained.Path;

    [Fact]
    public void Predictions_are_denormalized_chunks_and_reproducible_with_a_seed()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        var image = TestFiles.Png(8, 8, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10));
        var observation = new RobotObservation([image], [image], "pick up the red cube", [1f, 11f, 21f]);
        var a = predictor.Predict(observation, seed: 3);
        var b = predictor.Predict(observation, seed: 3);
        Assert.Equal((3, 2), (a.Horizon, a.PerActionDim));
        Assert.Equal(a.Values, b.Values);
        Assert.NotEqual(a.Values, predictor.Predict(observation, seed: 4).Values);
        Assert.Equal(2, predictor.PredictBatch([observation, observation with { Prompt = "pick up the blue cube" }], seed: 1).Count);
        Assert.Contains("\"per_action_dim\": 2", a.ToJson());
    }

    [Fact]
    public void A_wrong_number_of_state_values_is_bad_input()
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        var image = TestFiles.Png(8, 8, new SixLabors.ImageSharp.PixelFormats.Rgb24(1, 2, 3));
        var e = Assert.Throws<BadInputException>(() => predictor.Predict(new RobotObservation([image], [image], "x", [1f, 2f])));
        Assert.Equal("Observation 0: expected 3 state values (data.state_dim), got 2.", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Guided_predictions_leave_no_tensor_behind(bool exactJacobian)
    {
        using var predictor = VlaPredictor.Load(_checkpoint);
        predictor.Rtc = new RtcSettings(ExactJacobian: exactJacobian);
        var pixels = new byte[16 * 24 * 3];
        new Random(1).NextBytes(pixels);
        var observation = new RobotObservation([new RgbFrame(pixels, 16, 24)], [new RgbFrame(pixels, 16, 24)], "pick up the red cube", [1f, 11f, 21f]);
        var rtc = new RtcRequest(new float[6], 1);
        predictor.PredictBatch([observation, observation], seed: 1, rtc: [rtc, null]);   // warm-up: lazily created tensors
        long Live() => TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long before = Live();
        for (int i = 0; i < 3; i++) predictor.PredictBatch([observation, observation], seed: i, rtc: [rtc, null]);
        Assert.Equal(before, Live());
    }
}
