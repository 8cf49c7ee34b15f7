using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Training;

/// <summary>
/// The device self-check: the sample-sized policy, built twice from one seed, takes one
/// training step and samples one action chunk on a device and on a reference device (normally <c>cuda:0</c>
/// against the CPU), from the same weights, batch, noise and flow times; the figures are the largest
/// differences. Run CPU against CPU it must give zeros, which is how it is tested without a GPU.
/// </summary>
public static class DeviceSelfCheck
{
    /// <summary>What the check found.</summary>
    /// <param name="Device">The device checked.</param>
    /// <param name="Reference">The device it is compared with.</param>
    /// <param name="Dtype">The backbone's dtype on both.</param>
    /// <param name="LossDifference">|loss on device − loss on reference| of the training step.</param>
    /// <param name="WeightDifference">Largest absolute difference of any weight after the step.</param>
    /// <param name="ChunkDifference">Largest absolute difference of the sampled chunk (normalized units).</param>
    public sealed record Result(Device Device, Device Reference, ScalarType Dtype, double LossDifference, double WeightDifference, double ChunkDifference)
    {
        /// <inheritdoc/>
        public override string ToString() =>
            $"{ModelDtype.Name(Dtype)} training step on {Device} vs {Reference}: loss differs by {LossDifference:G3}, weights by at most {WeightDifference:G3}; " +
            $"action chunk by at most {ChunkDifference:G3}";
    }

    private const int Batch = 4, Seed = 1;

    /// <summary>Runs the step and the chunk on both devices with the backbone in <paramref name="dtype"/>.</summary>
    public static Result Run(Device device, Device reference, ScalarType dtype)
    {
        var config = Config(dtype);
        var (lossA, weightsA, chunkA) = StepAndChunk(config, device);
        var (lossB, weightsB, chunkB) = StepAndChunk(config, reference);
        using var scope = NewDisposeScope();
        double weights = weightsA.Zip(weightsB, (a, b) => (a - b).abs().max().item<float>()).DefaultIfEmpty(0).Max();
        var result = new Result(device, reference, dtype, Math.Abs(lossA - lossB), weights, (chunkA - chunkB).abs().max().item<float>());
        foreach (var t in weightsA.Concat(weightsB).Append(chunkA).Append(chunkB)) t.Dispose();
        return result;
    }

    private static (double Loss, List<Tensor> Weights, Tensor Chunk) StepAndChunk(VlaConfig config, Device device)
    {
        using var model = ModelFactory.OnDevice(ModelFactory.Random(config, PaliGemmaConfig.Sample(), Seed), device);
        using var step = new TrainStep(model, config);
        using var batch = SyntheticBatch(config, device);
        using var draws = new StepNoise(Seed);
        double loss = step.Run(batch, draws, config.Optimizer.Lr).Loss;
        var weights = model.parameters().Select(p => p.detach().cpu().to_type(ScalarType.Float32).DetachFromDisposeScope()).ToList();
        model.eval();
        using var scope = NewDisposeScope();
        var head = config.Model.ActionHeadConfig;
        var noise = draws.SampleNoise([Batch, head.Horizon, head.PerActionDim], device);
        var chunk = model.SampleActions(batch.Input, head.NumInferenceSteps, noise);
        return (loss, weights, chunk.cpu().DetachFromDisposeScope());
    }

    /// <summary>Seeded random images, tokens, state and actions, made on the host and copied to <paramref name="device"/>.</summary>
    private static VlaBatch SyntheticBatch(VlaConfig config, Device device)
    {
        using var generator = new Generator(Seed + 1);
        var head = config.Model.ActionHeadConfig;
        int size = config.Data.ImageSize, length = 6;
        Tensor On(Tensor host) { var moved = host.to(device); if (!ReferenceEquals(moved, host)) host.Dispose(); return moved; }
        return new VlaBatch
        {
            Input = new PolicyInput(
                On(rand([Batch, 2, 3, size, size], generator: generator) * 2 - 1),
                On(randint(3, 300, [Batch, length], generator: generator)),
                On(ones([Batch, length], ScalarType.Bool)),
                On(rand([Batch, config.Data.StateDim], generator: generator) * 2 - 1)),
            Actions = On(rand([Batch, head.Horizon, head.PerActionDim], generator: generator) * 2 - 1),
            ActionMask = On(ones([Batch, head.Horizon], ScalarType.Bool)),
            Prompts = Enumerable.Repeat("self-check", Batch).ToArray(),
            Windows = Enumerable.Range(0, Batch).Select(i => new Window(0, i)).ToArray(),
        };
    }

    private static VlaConfig Config(ScalarType dtype) => ConfigLoader.Parse($"""
        data:
          state_dim: 7
          image_size: 64
        model:
          vlm_config:
            use_aux_camera: true
            dtype: {ModelDtype.Name(dtype)}
            num_image_tokens: 64
          vision_resampler_config:
            output_dim: 128
          action_head_config:
            horizon: 4
            per_action_dim: 7
            action_dim: 28
            mlp_hidden_dims: [128]
            dropout_prob: 0.0
            hidden_dim: 128
            num_layers: 2
            num_heads: 4
            num_inference_steps: 10
        optimizer:
          lr: 1.0e-3
        """, "diagnose self-check");
}
