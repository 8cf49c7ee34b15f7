using TorchSharp;
using Vla.Data;
using Vla.Model;
using static TorchSharp.torch;

namespace Vla.Tests;

/// <summary>
/// The mean-chunk baseline as a sampling policy: whatever it sees, every step of its chunk is the training data's mean
/// action. A test-only policy with no model behind it, to show the contract holds for something that is not a network.
/// </summary>
internal sealed class MeanChunkPolicy(PolicySpec spec, Normalizer normalizer) : ISamplingPolicy
{
    private readonly float[] _mean = Normalized(normalizer);

    public static PolicySpec Spec(int cameras, int imageSize, int stateDim, int horizon, int actionDim) => new()
    {
        Family = "mean_chunk", Cameras = cameras, ImageSize = imageSize, StateDim = stateDim, ReadsState = false,
        Horizon = horizon, ActionDim = actionDim, NumInferenceSteps = 1, Dtype = "float32",
    };

    PolicySpec ISamplingPolicy.Spec => spec;

    public PolicyTransform Transform => PolicyTransform.None;

    public Device Device => CPU;

    /// <summary>Calls so far, and the batch sizes they had.</summary>
    public List<long> Calls { get; } = [];

    public Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null)
    {
        Calls.Add(input.Size);
        return tensor(_mean).view(1, 1, -1).expand(input.Size, spec.Horizon, spec.ActionDim).contiguous();
    }

    private static float[] Normalized(Normalizer normalizer)
    {
        var mean = (float[])normalizer.Stats.Action.Mean.Clone();
        normalizer.NormalizeActions(mean);
        return mean;
    }

    public void Dispose() { }
}
