using Vla.Inference;

namespace Vla.Server;

/// <summary>
/// The map every client receives first (openpi's metadata message): the policy's chunk and input shapes, the observation
/// layouts the server reads, real-time chunking's fields, batching, and where the policy came from.
/// </summary>
public static class ServerMetadata
{
    /// <summary>The metadata of <paramref name="predictor"/> served with <paramref name="options"/>; <paramref name="stateDim"/> is 0 for a policy that reads no state.</summary>
    public static Dictionary<string, object?> For(VlaPredictor predictor, ServerOptions options, int stateDim)
    {
        var spec = predictor.Spec;
        var layouts = options.Layout is { } fixedLayout ? [fixedLayout] : ObservationLayout.Known;
        bool wrist = spec.Cameras >= 2;
        var metadata = new Dictionary<string, object?>
        {
            ["server"] = "vla",
            ["policy"] = spec.Family,
            ["horizon"] = spec.Horizon,
            ["per_action_dim"] = spec.ActionDim,
            ["state_dim"] = stateDim,
            ["image_size"] = spec.ImageSize,
            ["num_inference_steps"] = options.Steps ?? spec.NumInferenceSteps,
            ["cameras"] = spec.Cameras,
            ["missing_cameras"] = spec.MasksMissingCameras ? "masked" : "refused", // a camera after the main one an observation lacks
            ["observation_layouts"] = layouts.ToDictionary(l => l.Name, l => (object?)new Dictionary<string, object?>
            {
                ["image_1"] = l.Camera1,
                ["image_2"] = wrist ? l.Camera2 : null,
                ["more_images"] = Enumerable.Range(2, Math.Max(0, spec.Cameras - 2)).Select(c => (object?)l.Camera(c)).ToList(),
                ["state"] = stateDim > 0 ? l.State.Cast<object?>().ToList() : new List<object?>(),
                ["prompt"] = l.Prompt,
            }),
            ["rtc"] = new Dictionary<string, object?>
            {
                ["fields"] = new List<object?> { "prev_chunk", "inference_delay", "execution_horizon" },
                ["max_guidance_weight"] = predictor.Rtc.MaxGuidanceWeight,
                ["prefix_schedule"] = predictor.Rtc.Schedule.ToString().ToLowerInvariant(),
            },
            ["max_batch"] = options.BatchWindowMs > 0 ? options.MaxBatch : 1,
            ["model"] = predictor.Config?.Model.VlmConfig.ModelNameOrPath ?? spec.Family,
            ["checkpoint"] = Directory.Exists(predictor.Source) ? Path.GetFullPath(predictor.Source) : predictor.Source,
            ["dtype"] = spec.Dtype,
        };
        if (predictor.Normalizer.Stats.Action.Names is { } names) metadata["action_names"] = names.Cast<object?>().ToList();
        if (stateDim > 0 && predictor.Normalizer.Stats.State.Names is { } stateNames) metadata["state_names"] = stateNames.Cast<object?>().ToList();
        return metadata;
    }
}
