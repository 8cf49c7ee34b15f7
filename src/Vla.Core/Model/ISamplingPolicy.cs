using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A policy that samples action chunks: what the evaluator, the predictor, the server and replays use. It declares what
/// it reads (<see cref="Spec"/>), turns frames, prompts and states into its input (<see cref="Transform"/>), and samples
/// normalized chunks with injectable noise and optional real-time-chunking guidance. A policy that only samples (behind a
/// server, an exported graph, a test's baseline) implements this and nothing more.
/// </summary>
public interface ISamplingPolicy : IDisposable
{
    /// <summary>What the policy reads and predicts.</summary>
    PolicySpec Spec { get; }

    /// <summary>How frames, prompts and states become its input.</summary>
    PolicyTransform Transform { get; }

    /// <summary>Where its tensors live (inputs go there).</summary>
    Device Device { get; }

    /// <summary>
    /// Normalized action chunks (B, horizon, action_dim), float32, integrated in <paramref name="steps"/> Euler steps from
    /// <paramref name="noise"/> (B, horizon, <see cref="PolicySpec.NoiseDim"/> or action_dim), or from noise drawn from <paramref name="generator"/> when it is null;
    /// with <paramref name="guidance"/>, each step is guided towards the previous chunk's remaining actions.
    /// </summary>
    Tensor SampleActions(PolicyInput input, int steps, Tensor? noise = null, Generator? generator = null, ChunkGuidance? guidance = null);
}
