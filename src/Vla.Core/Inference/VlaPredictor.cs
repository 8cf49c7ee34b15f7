using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Model.Tokenization;
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
    /// <summary>The prompt tokenizer saved with the checkpoint.</summary>
    public PaliGemmaTokenizer Tokenizer { get; }
    /// <summary>Where the model runs.</summary>
    public Device Device => Model.Device;

    private VlaPredictor(Checkpoint.Loaded loaded)
    {
        Model = loaded.Model;
        Tokenizer = loaded.Tokenizer;
        Model.eval();
        Config = loaded.Config;
        Checkpoint = loaded.Directory;
        Normalizer = new Normalizer(loaded.State.NormalizationStats, Normalizer.ParseMode(Config.Data.NormalizationMode));
    }

    /// <summary>
    /// Loads <paramref name="checkpointDir"/> onto <paramref name="device"/> (the CPU when null), the backbone in
    /// <paramref name="dtype"/> (the checkpoint's own when null).
    /// </summary>
    public static VlaPredictor Load(string checkpointDir, Device? device = null, ScalarType? dtype = null) =>
        new(Checkpoints.Checkpoint.Load(checkpointDir, device, dtype));

    /// <summary>The loader's prompt encoder for this checkpoint: its tokenizer, cut at <c>data.prompt_max_len</c>.</summary>
    public Func<IReadOnlyList<string>, PromptTokens> EncodePrompts => ModelFactory.PromptEncoder(Tokenizer, Config.Data.PromptMaxLen);

    /// <summary>
    /// The model's input for a batch of windows the loader built on <see cref="Device"/>.
    /// </summary>
    public static PolicyInput InputOf(VlaBatch batch) => new(batch.Images, batch.TokenIds, batch.TokenMask, batch.State);

    /// <summary>How real-time chunking guides (<see cref="RtcSettings"/>), for every request with an <see cref="RtcRequest"/>.</summary>
    public RtcSettings Rtc { get; set; } = new();

    /// <summary>
    /// Predicts one chunk; <paramref name="seed"/> fixes the sampled noise; <paramref name="rtc"/> guides it towards the
    /// previous chunk's remaining actions (real-time chunking).
    /// </summary>
    public ActionChunk Predict(Observation observation, int? steps = null, long? seed = null, RtcRequest? rtc = null) =>
        PredictBatch([observation], steps, seed, rtc is null ? null : [rtc])[0];

    /// <summary>Predicts a chunk for every observation in one batch; <paramref name="rtc"/>, when given, holds one request or null per observation.</summary>
    public IReadOnlyList<ActionChunk> PredictBatch(IReadOnlyList<Observation> observations, int? steps = null, long? seed = null, IReadOnlyList<RtcRequest?>? rtc = null)
    {
        if (rtc is not null && rtc.Count != observations.Count)
            throw new ArgumentException($"{rtc.Count} real-time chunking entries for {observations.Count} observations.", nameof(rtc));
        var layout = BatchLayout.From(Config);
        var head = Config.Model.ActionHeadConfig;
        int n = observations.Count, frameFloats = layout.ImageFloats;
        var images = new float[(long)n * layout.Cameras * frameFloats];
        var state = new float[n * layout.StateDim];
        for (int i = 0; i < n; i++)
        {
            var o = observations[i];
            CheckObservation(o, i, layout);
            for (int c = 0; c < layout.Cameras; c++)
            {
                // The policy conditions on the current frame: the newest one given for each camera.
                var frames = c == 0 ? o.Camera1 : o.Camera2!;
                long offset = ((long)i * layout.Cameras + c) * frameFloats;
                try
                {
                    frames[^1].Preprocess(layout.ImageSize, Config.Data.MaxImagePixels, images.AsSpan((int)offset, frameFloats));
                }
                catch (InvalidDataException e)
                {
                    throw new BadInputException($"Observation {i}, camera {c + 1}, frame {frames.Count - 1}: {e.Message}", e);
                }
            }
            if (o.State is not null)
            {
                var target = state.AsSpan(i * layout.StateDim, layout.StateDim);
                o.State.CopyTo(target);
                Normalizer.NormalizeState(target);
            }
        }

        int chunk = head.Horizon * head.PerActionDim;
        float[]? previous = null, weights = null;
        if (rtc is not null && rtc.Any(r => r is not null))
        {
            previous = new float[n * chunk];
            weights = new float[n * head.Horizon];
            for (int i = 0; i < n; i++)
            {
                if (rtc[i] is not { } request) continue;
                var (p, w) = request.Prepare(head.Horizon, head.PerActionDim, Normalizer, Rtc.Schedule, $"Observation {i}");
                p.CopyTo(previous, i * chunk);
                w.CopyTo(weights, i * head.Horizon);
            }
        }

        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        using var generator = seed is long s ? new Generator((ulong)s) : null;
        var tokens = EncodePrompts(observations.Select(o => o.Prompt).ToList());
        var device = Device;
        var input = new PolicyInput(
            ComputeDevice.ToDevice(tensor(images, [n, layout.Cameras, 3, layout.ImageSize, layout.ImageSize]), device),
            ComputeDevice.ToDevice(tensor(tokens.Ids, [n, tokens.Length]), device),
            ComputeDevice.ToDevice(tensor(tokens.Mask, [n, tokens.Length]), device),
            ComputeDevice.ToDevice(tensor(state, [n, layout.StateDim]), device));
        var guidance = previous is null ? null : new ChunkGuidance(
            ComputeDevice.ToDevice(tensor(previous, [n, head.Horizon, head.PerActionDim]), device),
            ComputeDevice.ToDevice(tensor(weights!, [n, head.Horizon]), device), Rtc.MaxGuidanceWeight, Rtc.ExactJacobian);
        var sampled = Model.SampleActions(input, steps ?? head.NumInferenceSteps, generator: generator, guidance: guidance);
        var values = sampled.cpu().contiguous().data<float>().ToArray();
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
