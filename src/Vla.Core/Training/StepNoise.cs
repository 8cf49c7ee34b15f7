using TorchSharp;
using Vla.Data;
using Vla.Distributed;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>
/// The random draws of training steps, from one host generator the run owns and checkpoints: each step draws ε and t for
/// the whole global batch (so N ranks compute what one process computes, each taking its contiguous slice) and, when the
/// model has dropout, one seed for the step's dropout masks.
/// </summary>
public sealed class StepNoise : IDisposable
{
    private readonly Generator _generator;

    /// <summary>Draws seeded by <paramref name="seed"/> (<c>training.seed</c>).</summary>
    public StepNoise(long seed) => _generator = new Generator((ulong)seed);

    /// <summary>One step's draws: this rank's noise and times on the batch's device, and where its dropout masks come from.</summary>
    /// <param name="Noise">(B, horizon, dim) ε for this rank's windows.</param>
    /// <param name="Time">(B) flow times.</param>
    /// <param name="Masks">The step's dropout masks.</param>
    public sealed record Draws(Tensor Noise, Tensor Time, DropoutMasks.Source Masks);

    /// <summary>
    /// The draws of the step that trains <paramref name="batch"/>, this rank's part of a global batch across <paramref name="group"/>;
    /// the noise is <paramref name="noiseDim"/> values wide when the policy samples wider than its actions (<see cref="PolicySpec.NoiseDim"/>).
    /// </summary>
    public Draws Draw(VlaBatch batch, IProcessGroup group, int? noiseDim = null)
    {
        int local = batch.Size;
        int global = (int)group.AllReduceSum([local])[0];
        var (offset, _) = EpochSampler.Slice(global, group.Rank, group.WorldSize);
        var noise = FlowMatching.SampleNoise([global, batch.Actions.shape[1], noiseDim ?? batch.Actions.shape[2]], _generator);
        var time = FlowMatching.SampleTime(global, _generator);
        var device = batch.Actions.device;
        // One draw a step when the model has dropout, whatever the shapes, so every rank's generator stays where one process's is.
        long Seed()
        {
            using var drawn = randint(long.MaxValue, [1], ScalarType.Int64, generator: _generator);
            return drawn.item<long>();
        }
        return new Draws(ComputeDevice.ToDevice(noise.narrow(0, offset, local).contiguous(), device),
            ComputeDevice.ToDevice(time.narrow(0, offset, local).contiguous(), device), new DropoutMasks.Source(Seed, global, offset, local));
    }

    /// <summary>ε of <paramref name="shape"/> on <paramref name="device"/>, drawn next from the same generator (the device self-check samples a chunk after its step).</summary>
    public Tensor SampleNoise(long[] shape, Device device) => FlowMatching.SampleNoise(shape, _generator, device);

    /// <summary>The generator's state, base64 (<c>trainer_state.json</c>'s <c>rng_state</c>).</summary>
    public string State => Convert.ToBase64String(_generator.get_state().bytes.ToArray());

    /// <summary>Continues from a <see cref="State"/> a checkpoint kept (nothing when it is empty).</summary>
    public void Restore(string state)
    {
        if (string.IsNullOrEmpty(state)) return;
        using var bytes = tensor(Convert.FromBase64String(state), ScalarType.Byte);
        _generator.set_state(bytes);
    }

    /// <summary>Frees the generator.</summary>
    public void Dispose() => _generator.Dispose();
}
