using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Inference;

/// <summary>
/// A trained policy ready to act: loads a checkpoint once (model, config, normalization stats,
/// tokenizer) and maps observations to denormalized action chunks. The backbone runs once per
/// prediction; the head runs once per Euler step.
/// </summary>
public sealed class VlaPredictor : IDisposable
{
    /// <summary>The loaded model (eval mode).</summary>
    public VlaModel Model { get; }
    /// <summary>The checkpoint's run configuration.</summary>
    public VlaConfig Config { get; }
    /// <summary>Maps between the data's units and the model's.</summary>
    public Normalizer Normalizer { get; }
    /// <summary>The checkpoint folder.</summary>
    public string Checkpoint { get; }

    private VlaPredictor(Checkpoint.Loaded loaded)
    {
        Model = loaded.Model;
        Model.eval();
        Config = loaded.Config;
        Checkpoint = loaded.Directory;
        Normalizer = new Normalizer(loaded.State.NormalizationStats, Normalizer.ParseMode(Config.Data.NormalizationMode));
    }

    /// <summary>Loads <paramref name="checkpointDir"/>.</summary>
    public static VlaPredictor Load(string checkpointDir) => new(Checkpoints.Checkpoint.Load(checkpointDir));

    /// <summary>Predicts one chunk; <paramref name="seed"/> fixes the sampled noise.</summary>
    public ActionChunk Predict(Observation observation, int? steps = null, long? seed = null) => PredictBatch([observation], steps, seed)[0];

    /// <summary>Predicts a chunk for every observation in one batch.</summary>
    public IReadOnlyList<ActionChunk> PredictBatch(IReadOnlyList<Observation> observations, int? steps = null, long? seed = null)
    {
        var layout = BatchLayout.From(Config);
        var head = Config.Model.ActionHeadConfig;
        int n = observations.Count, frameFloats = layout.ImageFloats;
        var images = new float[(long)n * layout.MaxSeqLen * layout.Cameras * frameFloats];
        var state = new float[n * layout.StateDim];
        for (int i = 0; i < n; i++)
        {
            var o = observations[i];
            CheckObservation(o, i, layout);
            for (int c = 0; c < layout.Cameras; c++)
            {
                var frames = c == 0 ? o.Camera1 : o.Camera2!;
                for (int k = 0; k < layout.MaxSeqLen; k++)
                {
                    // The newest frames fill the window from its end; missing older ones repeat the oldest given.
                    int frame = Math.Max(0, frames.Count - layout.MaxSeqLen + k);
                    long offset = (((long)i * layout.MaxSeqLen + k) * layout.Cameras + c) * frameFloats;
                    try
                    {
                        ImagePreprocessor.Preprocess(frames[frame], layout.ImageSize, Config.Data.MaxImagePixels, images.AsSpan((int)offset, frameFloats));
                    }
                    catch (InvalidDataException e)
                    {
                        throw new BadInputException($"Observation {i}, camera {c + 1}, frame {frame}: {e.Message}", e);
                    }
                }
            }
            if (o.State is not null)
            {
                var target = state.AsSpan(i * layout.StateDim, layout.StateDim);
                o.State.CopyTo(target);
                Normalizer.NormalizeState(target);
            }
        }

        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        using var generator = seed is long s ? new Generator((ulong)s) : null;
        var imageTensor = tensor(images, [n, layout.MaxSeqLen, layout.Cameras, 3, layout.ImageSize, layout.ImageSize]);
        var stateTensor = tensor(state, [n, layout.StateDim]);
        var sampled = Model.SampleActions(imageTensor, observations.Select(o => o.Prompt).ToList(), stateTensor,
            steps ?? head.NumInferenceSteps, generator: generator);
        var values = sampled.contiguous().data<float>().ToArray();
        int chunk = head.Horizon * head.PerActionDim;
        return Enumerable.Range(0, n).Select(i =>
        {
            var one = values.AsSpan(i * chunk, chunk).ToArray();
            Normalizer.DenormalizeActions(one);
            return new ActionChunk(one, head.Horizon, head.PerActionDim);
        }).ToList();
    }

    private void CheckObservation(Observation o, int index, BatchLayout layout)
    {
        if (o.Camera1.Count == 0) throw new BadInputException($"Observation {index} has no main-camera image.");
        if (layout.Cameras == 2 && (o.Camera2 is null || o.Camera2.Count == 0))
            throw new BadInputException($"Observation {index}: the model was trained with the wrist camera (use_aux_camera), so it needs image_2 frames too.");
        if (Config.Model.ActionHeadConfig.UseStateInput && o.State is null)
            throw new BadInputException($"Observation {index}: the model was trained with state input; give {layout.StateDim} state values.");
        if (o.State is not null && o.State.Length != layout.StateDim)
            throw new BadInputException($"Observation {index}: expected {layout.StateDim} state values (data.state_dim), got {o.State.Length}.");
        if (o.State is not null && o.State.Any(v => !float.IsFinite(v)))
            throw new BadInputException($"Observation {index}: the state contains NaN or infinite values.");
    }

    /// <summary>Frees the model.</summary>
    public void Dispose() => Model.Dispose();
}
