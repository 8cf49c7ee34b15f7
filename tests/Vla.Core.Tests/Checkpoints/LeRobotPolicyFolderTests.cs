using System.Text.Json.Nodes;
using Vla.Checkpoints;
using Vla.Data;
using Vla.Inference;
using Vla.Model.Weights;
using Vla.Runtime;
using Vla.Tests.Model;
using Vla.Tests.Model.Pi0;
using static TorchSharp.torch;

namespace Vla.Tests.Checkpoints;

/// <summary>LeRobot pi0 / pi0.5 folders read in place: config, processors' statistics, tokenizer, weights, and the predictor over them.</summary>
[Collection(ProcessWide.Name)]
public sealed class LeRobotPolicyFolderTests
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");
    private static string Pi0 => Path.Combine(Golden, "pi0-tiny");
    private static string Pi05 => Path.Combine(Golden, "pi05-tiny");
    private static string SampleTokenizer => Path.Combine(TestFiles.RepoRoot, "data-samples", "tiny-paligemma");

    [Fact]
    public void The_config_gives_the_family_its_cameras_sizes_and_normalization()
    {
        var pi0 = LeRobotPolicyFolder.Describe(Pi0);
        Assert.Equal("pi0", pi0.Family);
        Assert.Equal(["observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb"], pi0.Cameras);
        Assert.Equal((6, 6, NormalizationMode.ZScore), (pi0.StateDim, pi0.ActionDim, pi0.Mode));
        Assert.Equal(Pi0GoldenTests.Tiny, pi0.Config);
        var pi05 = LeRobotPolicyFolder.Describe(Pi05);
        Assert.Equal(("pi05", NormalizationMode.Quantile), (pi05.Family, pi05.Mode));
        Assert.True(LeRobotPolicyFolder.Is(Pi0));
        Assert.False(LeRobotPolicyFolder.Is(SampleTokenizer));
    }

    [Fact]
    public void Statistics_come_from_the_files_the_processors_name()
    {
        var loaded = LeRobotPolicyFolder.Load(Pi0, SampleTokenizer);
        using var policy = loaded.Policy;
        var file = SafetensorsFile.Open(Path.Combine(Pi0, "policy_preprocessor_step_6_normalizer_processor.safetensors"));
        Assert.Equal(file.Read("observation.state.mean").data<float>().ToArray(), loaded.Stats.State.Mean);
        Assert.Equal(file.Read("action.q99").data<float>().ToArray(), loaded.Stats.Action.Q99);
        Assert.Equal("pi0", policy.Spec.Family);
    }

    [Fact]
    public void A_released_folder_without_a_tokenizer_needs_one_named()
    {
        var error = Assert.Throws<BadInputException>(() => LeRobotPolicyFolder.Load(Pi0));
        Assert.Contains("carries no tokenizer", error.Message);
        using var withOwn = LeRobotPolicyFolder.Load(Pi05).Policy; // a LeRobot save carries tokenizer/tokenizer.model
    }

    [Fact]
    public void The_loaded_policy_samples_the_reference_chunk()
    {
        using var policy = LeRobotPolicyFolder.Load(Pi05).Policy;
        using var scope = NewDisposeScope();
        var reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
        var input = new Vla.Model.PolicyInput(reference.Read("images"), reference.Read("tokens").to_type(ScalarType.Int64),
            reference.Read("token_masks").to_type(ScalarType.Bool), reference.Read("state").narrow(1, 0, 6)) { ImageMask = reference.Read("image_masks").to_type(ScalarType.Bool) };
        var chunk = policy.SampleActions(input, 3, noise: reference.Read("noise"));
        Tolerance.Close(reference.Read("pi05.chunk").narrow(2, 0, 6), chunk, what: "chunk");
    }

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void In_bfloat16_the_transformers_halve_while_the_vision_path_norms_and_action_projections_stay_float32(string family)
    {
        using var policy = LeRobotPolicyFolder.Load(Path.Combine(Golden, $"{family}-tiny"), SampleTokenizer, dtype: ScalarType.BFloat16).Policy;
        Assert.Equal("bfloat16", policy.Spec.Dtype);
        foreach (var (name, p) in policy.Model.named_parameters())
        {
            bool half = name.Contains(".self_attn.", StringComparison.Ordinal) || name.Contains(".mlp.", StringComparison.Ordinal) && !name.Contains("vision_tower", StringComparison.Ordinal)
                        || name.EndsWith("embed_tokens.weight", StringComparison.Ordinal);
            if (name.Contains("vision_tower", StringComparison.Ordinal)) half = false;
            Assert.True((half ? ScalarType.BFloat16 : ScalarType.Float32) == p.dtype, $"{name} is {p.dtype}");
        }
        using var scope = NewDisposeScope();
        var reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
        var input = new Vla.Model.PolicyInput(reference.Read("images"), reference.Read("tokens").to_type(ScalarType.Int64),
            reference.Read("token_masks").to_type(ScalarType.Bool), reference.Read("state").narrow(1, 0, 6)) { ImageMask = reference.Read("image_masks").to_type(ScalarType.Bool) };
        var chunk = policy.SampleActions(input, 3, noise: reference.Read("noise"));
        Assert.Equal(ScalarType.Float32, chunk.dtype);
        var expected = reference.Read($"{family}.chunk").narrow(2, 0, 6);
        double error = (chunk - expected).abs().max().item<float>(), scale = expected.abs().max().item<float>();
        // These tiny random models are sensitive: rounding their weights to bfloat16 alone (computing in float32) moves the
        // chunk by 0.10 (pi0) and 0.15 (pi0.5) of a largest value of 6.4; computing in bfloat16 too, by 0.25 at most.
        Assert.True(error <= 0.06 * (1 + scale), $"bfloat16 chunk off the float32 reference by {error} (max |reference| {scale})");
        Assert.True(error > 0, "the chunk did not change in bfloat16");
    }

    [Fact]
    public void The_predictor_runs_a_folder_in_data_units_reproducibly()
    {
        using var predictor = VlaPredictor.Load(Pi05);
        var image = TestFiles.Png(32, 32, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10));
        var observation = new RobotObservation([image], [image], "pick up the red cube", [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f]);
        var a = predictor.Predict(observation, seed: 3);
        Assert.Equal((5, 6), (a.Horizon, a.PerActionDim));
        Assert.Equal(a.Values, predictor.Predict(observation, seed: 3).Values);
        Assert.NotEqual(a.Values, predictor.Predict(observation, seed: 4).Values);
        Assert.All(a.Values, v => Assert.True(float.IsFinite(v)));
        Assert.Throws<BadInputException>(() => VlaPredictor.Load(Pi05, dtype: ScalarType.Float16));

        var (noise, shape) = NpyFile.ReadFloat32(Path.Combine(Golden, "pi0_noise.npy"));
        Assert.Equal(predictor.NoiseShape, shape);
        var given = predictor.Predict(observation, noise: noise);
        Assert.Equal(given.Values, predictor.Predict(observation, seed: 9, noise: noise).Values); // the noise given wins over any seed
        var error = Assert.Throws<BadInputException>(() => predictor.Predict(observation, noise: noise[..30]));
        Assert.Contains("[5, 8]", error.Message);
    }

    [Fact]
    public void A_policy_with_three_cameras_reads_the_third_from_the_observation()
    {
        using var folder = new TempFolder();
        folder.Copy(Pi05);
        var json = JsonNode.Parse(File.ReadAllText(folder.PathOf("config.json")))!.AsObject();
        json["input_features"]!["observation.images.right_wrist_0_rgb"] = JsonNode.Parse("{\"type\": \"VISUAL\", \"shape\": [3, 32, 32]}");
        File.WriteAllText(folder.PathOf("config.json"), json.ToJsonString());
        using var predictor = VlaPredictor.Load(folder.Root);
        Assert.Equal(3, predictor.Spec.Cameras);
        var red = TestFiles.Png(32, 32, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10));
        var blue = TestFiles.Png(32, 32, new SixLabors.ImageSharp.PixelFormats.Rgb24(10, 10, 200));
        var observation = new RobotObservation([red], [red], "pick up the red cube", [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f]);
        var notices = new List<string>();
        predictor.Notice = notices.Add;
        var withRed = predictor.Predict(observation with { MoreCameras = [[red]] }, seed: 1);
        var withBlue = predictor.Predict(observation with { MoreCameras = [[blue]] }, seed: 1);
        Assert.NotEqual(withRed.Values, withBlue.Values); // the third camera's image reaches the model
        Assert.Empty(notices);

        // A camera the observation lacks is masked out, as LeRobot does, and said once.
        var without = predictor.Predict(observation, seed: 1);
        Assert.NotEqual(withRed.Values, without.Values);
        Assert.Equal(without.Values, predictor.Predict(observation, seed: 1).Values);
        Assert.Equal(["Observation 0 has no image for camera 3 of the 3 the policy reads: it is masked out, as LeRobot does with a missing camera (said once)."], notices);
        Assert.All(without.Values, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void An_openpi_checkpoint_loads_with_its_norm_stats_three_camera_slots_and_openpis_normalization()
    {
        using var folder = new TempFolder();
        File.Copy(Path.Combine(Pi0, "model.safetensors"), folder.PathOf("model.safetensors"));
        var lerobot = JsonNode.Parse(File.ReadAllText(Path.Combine(Pi0, "config.json")))!.AsObject();
        File.WriteAllText(folder.PathOf("config.json"), new JsonObject
        {
            ["action_dim"] = 8, ["action_horizon"] = 5, ["paligemma_variant"] = "gemma_2b", ["action_expert_variant"] = "gemma_300m", ["precision"] = "float32",
            ["max_token_len"] = 8, ["test_shapes"] = lerobot["test_shapes"]!.DeepClone(),
        }.ToJsonString());
        var golden = LeRobotPolicyFolder.Load(Pi0, SampleTokenizer);
        golden.Policy.Dispose();
        JsonObject Stats(Vla.Data.DimensionStats d) => new()
        {
            ["mean"] = new JsonArray(d.Mean.Select(v => (JsonNode)v).ToArray()), ["std"] = new JsonArray(d.Std.Select(v => (JsonNode)v).ToArray()),
            ["q01"] = new JsonArray(d.Q01.Select(v => (JsonNode)v).ToArray()), ["q99"] = new JsonArray(d.Q99.Select(v => (JsonNode)v).ToArray()),
        };
        Directory.CreateDirectory(folder.PathOf("assets/trossen"));
        Assert.Contains("holds no norm_stats.json", Assert.Throws<BadInputException>(() => LeRobotPolicyFolder.Load(folder.Root, SampleTokenizer)).Message);
        File.WriteAllText(folder.PathOf("assets/trossen/norm_stats.json"),
            new JsonObject { ["norm_stats"] = new JsonObject { ["state"] = Stats(golden.Stats.State), ["actions"] = Stats(golden.Stats.Action) } }.ToJsonString());

        Assert.True(LeRobotPolicyFolder.Is(folder.Root));
        var loaded = LeRobotPolicyFolder.Load(folder.Root, SampleTokenizer);
        using var policy = loaded.Policy;
        Assert.Equal(("pi0", 3, 6, 6, 5, NormalizationMode.ZScore), (policy.Spec.Family, policy.Spec.Cameras, policy.Spec.StateDim, policy.Spec.ActionDim, policy.Spec.Horizon, loaded.Mode));
        Assert.Equal(OpenPiPolicyFolder.Cameras, loaded.Cameras);
        var state = new[] { 1f, 2f, 3f, 4f, 5f, 6f };
        var normalized = state.ToArray();
        loaded.Normalizer.NormalizeState(normalized);
        for (int d = 0; d < 6; d++)                                                        // openpi's (x - mean) / (std + 1e-6)
            Assert.Equal((state[d] - golden.Stats.State.Mean[d]) / (golden.Stats.State.Std[d] + 1e-6), normalized[d], 5);

        // The golden inputs with a third, missing camera: masked tokens change nothing, so the chunk is the reference's.
        using var scope = NewDisposeScope();
        var reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
        var images = reference.Read("images");
        var input = new Vla.Model.PolicyInput(cat([images, images.narrow(1, 0, 1)], 1), reference.Read("tokens").to_type(ScalarType.Int64),
            reference.Read("token_masks").to_type(ScalarType.Bool), reference.Read("state").narrow(1, 0, 6))
        {
            ImageMask = cat([reference.Read("image_masks").to_type(ScalarType.Bool), zeros(images.shape[0], 1, ScalarType.Bool)], 1),
        };
        Tolerance.Close(reference.Read("pi0.chunk").narrow(2, 0, 6), policy.SampleActions(input, 3, noise: reference.Read("noise")), what: "chunk with a third, masked camera");
    }

    [Fact]
    public void Empty_cameras_are_cameras_no_observation_has_and_are_masked()
    {
        using var folder = new TempFolder();
        folder.Copy(Pi05);
        var json = JsonNode.Parse(File.ReadAllText(folder.PathOf("config.json")))!.AsObject();
        json["empty_cameras"] = 1;
        File.WriteAllText(folder.PathOf("config.json"), json.ToJsonString());
        Assert.Equal("observation.images.empty_camera_0", LeRobotPolicyFolder.Describe(folder.Root).Cameras[^1]);
        using var predictor = VlaPredictor.Load(folder.Root);
        var notices = new List<string>();
        predictor.Notice = notices.Add;
        var image = TestFiles.Png(32, 32, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10));
        var chunk = predictor.Predict(new RobotObservation([image], [image], "pick up the red cube", [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f]), seed: 1);
        using var plain = VlaPredictor.Load(Pi05);
        Assert.Equal(3, predictor.Spec.Cameras);
        // A camera no token sees changes nothing: the chunk is the two-camera folder's (up to float rounding).
        var expected = plain.Predict(new RobotObservation([image], [image], "pick up the red cube", [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f]), seed: 1);
        for (int i = 0; i < chunk.Values.Length; i++) Assert.True(Math.Abs(expected.Values[i] - chunk.Values[i]) <= 1e-4 * (1 + Math.Abs(expected.Values[i])), $"value {i}");
        Assert.Single(notices);
    }

    [Theory]
    [InlineData("type", "\"act\"", "not a policy this workbench loads")]
    [InlineData("output_features", "{}", "feature 'action'")]
    [InlineData("paligemma_variant", "\"gemma_7b\"", "not a released shape")]
    [InlineData("normalization_mapping", "{\"STATE\": \"MEAN_STD\", \"ACTION\": \"QUANTILES\"}", "normalizes STATE by MEAN_STD and ACTION by QUANTILES")]
    [InlineData("empty_cameras", "-1", "'empty_cameras' must not be negative")]
    [InlineData("use_relative_actions", "true", "'use_relative_actions' is true")]
    [InlineData("chunk_size", "\"fifty\"", "'chunk_size' must be an integer")]
    [InlineData("chunk_size", "0", "'chunk_size' must be positive")]
    [InlineData("input_features", "[]", "wrong type")]
    public void A_config_that_cannot_be_loaded_is_refused_naming_the_key(string key, string value, string expected)
    {
        using var folder = new TempFolder();
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Pi0, "config.json")))!.AsObject();
        json[key] = JsonNode.Parse(value);
        if (key == "paligemma_variant") json.Remove("test_shapes");
        File.WriteAllText(folder.PathOf("config.json"), json.ToJsonString());
        var error = Assert.Throws<BadInputException>(() => LeRobotPolicyFolder.Describe(folder.Root));
        Assert.Contains(expected, error.Message);
        Assert.Contains("config.json", error.Message);
    }
}
