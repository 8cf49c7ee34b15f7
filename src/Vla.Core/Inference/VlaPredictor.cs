using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Data;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;
using Vla.Data.Loading;

namespace Vla.Inference;

/// <summary>
/// A policy ready to act in the data's units: observations (frames, prompt, state) in, denormalized action chunks out
/// (openpi's <c>Policy.infer</c>). It preprocesses frames and states as the policy's data was, runs the policy's input
/// transform, samples, and denormalizes. Any <see cref="ISamplingPolicy"/> can be behind it; <see cref="Load"/> reads a
/// checkpoint.
/// </summary>
public sealed class VlaPredictor : IDisposable
{
    /// <summary>The policy (in eval mode when it trains).</summary>
    public ISamplingPolicy Policy { get; }
    /// <summary>Maps between the data's units and the policy's.</summary>
    public Normalizer Normalizer { get; }
    /// <summary>How the policy's data is read (image limits, batch size and workers for evaluation, LeRobot keys, the normalization mode).</summary>
    public DataConfig Data { get; }
    /// <summary>The checkpoint folder the policy was loaded from, or a name for a policy built in code.</summary>
    public string Source { get; }
    /// <summary>The checkpoint's run configuration, or null for a policy built in code.</summary>
    public VlaConfig? Config { get; }
    /// <summary>What the policy reads and predicts.</summary>
    public PolicySpec Spec => Policy.Spec;
    /// <summary>Where the policy runs.</summary>
    public Device Device => Policy.Device;

    /// <summary>
    /// A predictor for <paramref name="policy"/>, whose data is normalized with <paramref name="stats"/> as <paramref name="data"/>'s
    /// <c>normalization_mode</c> says; <paramref name="source"/> names it in reports.
    /// </summary>
    public VlaPredictor(ISamplingPolicy policy, NormalizationStats stats, DataConfig data, string source, VlaConfig? config = null, Normalizer? normalizer = null)
    {
        Policy = policy;
        (policy as ITrainablePolicy)?.Module.eval();
        Normalizer = normalizer ?? Normalizer.For(stats, Normalizer.ParseMode(data.NormalizationMode), policy.Spec.Normalization);
        Data = data;
        Source = source;
        Config = config;
    }

    /// <summary>
    /// Loads <paramref name="checkpointDir"/> onto <paramref name="device"/> (the CPU when null), the backbone in
    /// <paramref name="dtype"/> (the checkpoint's own when null). A LeRobot pi0 or pi0.5 folder loads in place
    /// (<see cref="LeRobotPolicyFolder"/>), in float32, its tokenizer from <paramref name="tokenizer"/> when it carries none.
    /// </summary>
    public static VlaPredictor Load(string checkpointDir, Device? device = null, ScalarType? dtype = null, string? tokenizer = null)
    {
        if (LeRobotPolicyFolder.Is(checkpointDir))
        {
            var folder = LeRobotPolicyFolder.Load(checkpointDir, tokenizer, dtype: dtype ?? ScalarType.Float32);
            try
            {
                if (device is not null) folder.Policy.Model.to(device);
                // How its data reads: LeRobot's feature names (evaluation over LeRobot datasets finds the cameras by them).
                var data = new DataConfig
                {
                    NormalizationMode = Normalizer.ModeName(folder.Mode), StateDim = folder.Policy.Spec.StateDim, ImageSize = folder.Policy.Spec.ImageSize,
                    ImageKeys = [.. folder.Cameras], MaxSeqLen = 1,
                };
                return new VlaPredictor(folder.Policy, folder.Stats, data, folder.Directory, normalizer: folder.Normalizer);
            }
            catch
            {
                folder.Policy.Dispose();
                throw;
            }
        }
        var loaded = ModelFactory.FromCheckpoint(checkpointDir, device, dtype);
        var stats = loaded.State.NormalizationStats;
        return new VlaPredictor(loaded.Policy, stats, loaded.Config.Data, loaded.Directory, loaded.Config,
            Normalizer.For(stats, Normalizer.ParseMode(loaded.Config.Data.NormalizationMode), loaded.Policy.Spec.Normalization));
    }

    /// <summary>The shape of one observation's starting noise: horizon × the policy's noise width.</summary>
    public long[] NoiseShape => [Spec.Horizon, Spec.NoiseDim ?? Spec.ActionDim];

    /// <summary>Where the predictor says, once, what it does with a camera an observation lacks (a policy that masks missing cameras).</summary>
    public Action<string>? Notice { get; set; }

    private int _missingCameraNoticed;

    /// <summary>How real-time chunking guides (<see cref="RtcSettings"/>), for every request with an <see cref="RtcRequest"/>.</summary>
    public RtcSettings Rtc { get; set; } = new();

    /// <summary>
    /// Predicts one chunk; <paramref name="seed"/> fixes the sampled noise; <paramref name="rtc"/> guides it towards the
    /// previous chunk's remaining actions (real-time chunking).
    /// </summary>
    public ActionChunk Predict(RobotObservation observation, int? steps = null, long? seed = null, RtcRequest? rtc = null, float[]? noise = null) =>
        PredictBatch([observation], steps, seed, rtc is null ? null : [rtc], noise)[0];

    /// <summary>
    /// Predicts a chunk for every observation in one batch; <paramref name="rtc"/>, when given, holds one request or null per
    /// observation; <paramref name="noise"/>, when given, replaces the sampled noise: every observation's (horizon × noise
    /// width, <see cref="NoiseShape"/>) values in turn, row-major.
    /// </summary>
    public IReadOnlyList<ActionChunk> PredictBatch(IReadOnlyList<RobotObservation> observations, int? steps = null, long? seed = null, IReadOnlyList<RtcRequest?>? rtc = null,
                                                   float[]? noise = null)
    {
        long[] noiseShape = [observations.Count, .. NoiseShape];
        if (noise is not null && noise.LongLength != noiseShape.Aggregate(1L, (a, b) => a * b))
            throw new BadInputException($"The noise holds {noise.Length} values; the policy starts each chunk from [{string.Join(", ", NoiseShape)}] of them ({observations.Count} observation(s)).");
        if (rtc is not null && rtc.Count != observations.Count)
            throw new ArgumentException($"{rtc.Count} real-time chunking entries for {observations.Count} observations.", nameof(rtc));
        var spec = Spec;
        int n = observations.Count, chunk = spec.Horizon * spec.ActionDim;
        var buffers = Collate(observations);
        var (previous, weights) = Guidance(rtc, n);

        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        using var generator = seed is long s ? new Generator((ulong)s) : null;
        var input = Policy.Transform.ToInput(buffers.PolicyArrays, Device);
        var guidance = previous is null ? null : new ChunkGuidance(
            ComputeDevice.ToDevice(tensor(previous, [n, spec.Horizon, spec.ActionDim]), Device),
            ComputeDevice.ToDevice(tensor(weights!, [n, spec.Horizon]), Device), Rtc.MaxGuidanceWeight, Rtc.ExactJacobian);
        var start = noise is null ? null : ComputeDevice.ToDevice(tensor(noise, noiseShape), Device);
        var sampled = Policy.SampleActions(input, steps ?? spec.NumInferenceSteps, start, generator, guidance);
        var values = sampled.cpu().contiguous().data<float>().ToArray();
        return Enumerable.Range(0, n).Select(i =>
        {
            var one = values.AsSpan(i * chunk, chunk).ToArray();
            Normalizer.DenormalizeActions(one);
            return new ActionChunk(one, spec.Horizon, spec.ActionDim);
        }).ToList();
    }

    /// <summary>The observations as the policy's host arrays: newest frames preprocessed, states normalized, prompts tokenized.</summary>
    private BatchBuffers Collate(IReadOnlyList<RobotObservation> observations)
    {
        var layout = BatchLayout.Of(Spec);
        var b = new BatchBuffers(layout, observations.Count);
        for (int i = 0; i < observations.Count; i++)
        {
            var o = observations[i];
            CheckObservation(o, i);
            for (int c = 0; c < layout.Cameras; c++)
            {
                long offset = ((long)i * layout.Cameras + c) * layout.ImageFloats;
                if (o.Camera(c) is not { Count: > 0 } frames)
                {
                    MaskMissing(b, i, c, offset);
                    continue;
                }
                // The policy conditions on the current frame: the newest one given for each camera.
                try
                {
                    frames[^1].Preprocess(layout.ImageSize, Data.MaxImagePixels, b.Images.AsSpan((int)offset, layout.ImageFloats), layout.Fit);
                }
                catch (InvalidDataException e)
                {
                    throw new BadInputException($"Observation {i}, camera {c + 1}, frame {frames.Count - 1}: {e.Message}", e);
                }
            }
            if (o.State is not null)
            {
                var target = b.State.AsSpan(i * layout.StateDim, layout.StateDim);
                o.State.CopyTo(target);
                Normalizer.NormalizeState(target);
            }
            b.Prompts[i] = o.Prompt;
        }
        b.Tokens = Policy.Transform.EncodePrompts(b.Prompts, b.State);
        return b;
    }

    /// <summary>Marks camera <paramref name="camera"/> of observation <paramref name="index"/> missing: an image of −1 whose tokens the policy masks out.</summary>
    private void MaskMissing(BatchBuffers b, int index, int camera, long offset)
    {
        var layout = b.Layout;
        b.ImageMask ??= Enumerable.Repeat(true, b.Size * layout.Cameras).ToArray();
        b.ImageMask[index * layout.Cameras + camera] = false;
        b.Images.AsSpan((int)offset, layout.ImageFloats).Fill(-1f);
        if (Interlocked.Exchange(ref _missingCameraNoticed, 1) == 0)
            Notice?.Invoke($"Observation {index} has no image for camera {camera + 1} of the {layout.Cameras} the policy reads: it is masked out, as LeRobot does with a missing camera (said once).");
    }

    /// <summary>The normalized previous chunks and prefix weights of the requests that ask for real-time chunking, or nulls.</summary>
    private (float[]? Previous, float[]? Weights) Guidance(IReadOnlyList<RtcRequest?>? rtc, int n)
    {
        if (rtc is null || rtc.All(r => r is null)) return (null, null);
        int horizon = Spec.Horizon, dim = Spec.ActionDim, chunk = horizon * dim;
        var previous = new float[n * chunk];
        var weights = new float[n * horizon];
        for (int i = 0; i < n; i++)
        {
            if (rtc[i] is not { } request) continue;
            var (p, w) = request.Prepare(horizon, dim, Normalizer, Rtc.Schedule, $"Observation {i}");
            p.CopyTo(previous, i * chunk);
            w.CopyTo(weights, i * horizon);
        }
        return (previous, weights);
    }

    private void CheckObservation(RobotObservation o, int index)
    {
        var spec = Spec;
        if (o.Camera1.Count == 0) throw new BadInputException($"Observation {index} has no main-camera image.");
        if (spec.Cameras == 2 && !spec.MasksMissingCameras && (o.Camera2 is null || o.Camera2.Count == 0))
            throw new BadInputException($"Observation {index}: the model was trained with the wrist camera (use_aux_camera), so it needs image_2 frames too.");
        if (spec.Cameras > 2 && !spec.MasksMissingCameras)
            for (int c = 1; c < spec.Cameras; c++)
                if (o.Camera(c) is not { Count: > 0 })
                    throw new BadInputException($"Observation {index}: the policy reads {spec.Cameras} cameras, and camera {c + 1} has no frames.");
        if (spec.ReadsState && o.State is null)
            throw new BadInputException($"Observation {index}: the model was trained with state input; give {spec.StateDim} state values.");
        if (o.State is not null && o.State.Length != spec.StateDim)
            throw new BadInputException($"Observation {index}: expected {spec.StateDim} state values (data.state_dim), got {o.State.Length}.");
        if (o.State is not null && o.State.Any(v => !float.IsFinite(v)))
            throw new BadInputException($"Observation {index}: the state contains NaN or infinite values.");
    }

    /// <summary>Frees the policy.</summary>
    public void Dispose() => Policy.Dispose();
}
