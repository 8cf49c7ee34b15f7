using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Weights;
using static TorchSharp.torch;

namespace Vla.Tests.Model.Pi0;

/// <summary>
/// pi0 and pi0.5 against a plain-PyTorch forward written from LeRobot's code (tests/golden/make_pi0_golden.py), on tiny
/// random models stored in LeRobot's layout: pi0 as the released files are (no <c>model.</c> prefix, the embedding only as
/// <c>lm_head</c>), pi0.5 as LeRobot saves (prefixed). Inputs have a missing camera and a padded prompt.
/// </summary>
[Collection(ProcessWide.Name)]
public sealed class Pi0GoldenTests : IDisposable
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");
    private readonly SafetensorsFile _reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
    private readonly TorchSharp.DisposeScope _scope = NewDisposeScope();

    public void Dispose() => _scope.Dispose();

    /// <summary>The generator's shapes: SigLIP 2 × 32 at 32 px (16 tokens a camera), Gemma 2 × 64, expert 2 × 32, heads 4 × 16.</summary>
    public static Pi0Config Tiny => new()
    {
        PaliGemma = new PaliGemmaConfig
        {
            Vision = new SiglipConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, ImageSize = 32, PatchSize = 8, LayerNormEps = 1e-6 },
            Text = new GemmaConfig { VocabSize = 320, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 16 },
            ProjectionDim = 64,
        },
        Expert = new GemmaConfig { VocabSize = 0, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 16 },
        ChunkSize = 5, MaxStateDim = 8, MaxActionDim = 8, NumInferenceSteps = 3, TokenizerMaxLength = 8,
    };

    private Tensor Ref(string name) => _reference.Read(name);

    private static Pi0Model Load(string family)
    {
        var model = new Pi0Model(Tiny, family == "pi0" ? c => new Pi0Suffix(c) : c => new Pi05Suffix(c));
        Pi0Weights.Load(model, Path.Combine(Golden, $"{family}-tiny"));
        model.eval();
        return model;
    }

    private Pi0Prefix Prefix(Pi0Model model) =>
        model.EmbedPrefix(Ref("images"), Ref("image_masks").to_type(ScalarType.Bool), Ref("tokens").to_type(ScalarType.Int64), Ref("token_masks").to_type(ScalarType.Bool));

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void Every_layer_and_the_loss_match_the_reference(string family)
    {
        using var model = Load(family);
        using var noGrad = no_grad();
        using var prefix = Prefix(model);
        Tolerance.Close(Ref($"{family}.prefix_embs"), prefix.Tokens, what: "prefix embeddings");
        var t = Ref("time").view(-1, 1, 1);
        var noisy = t * Ref("noise") + (1 - t) * Ref("actions");
        var layers = new List<(Tensor? Prefix, Tensor? Suffix)>();
        model.Velocity(prefix, Ref("state"), noisy, Ref("time"), layers);
        Assert.Equal(Tiny.PaliGemma.Text.NumHiddenLayers, layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            Tolerance.Close(Ref($"{family}.layer_{i}.vlm"), layers[i].Prefix!, what: $"layer {i}, PaliGemma stream");
            Tolerance.Close(Ref($"{family}.layer_{i}.expert"), layers[i].Suffix!, what: $"layer {i}, expert stream");
            layers[i].Prefix!.Dispose();
            layers[i].Suffix!.Dispose();
        }
        Tolerance.Close(Ref($"{family}.loss"), model.Losses(prefix, Ref("state"), Ref("actions"), Ref("noise"), Ref("time")), what: "loss");
    }

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void A_chunk_sampled_with_the_prefix_cache_matches_the_uncached_reference(string family)
    {
        using var model = Load(family);
        using var noGrad = no_grad();
        using var prefix = Prefix(model);
        var chunk = model.SampleActions(prefix, Ref("state"), Ref("noise"), Tiny.NumInferenceSteps);
        Tolerance.Close(Ref($"{family}.chunk"), chunk, what: "chunk");
    }

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void The_sampling_policy_pads_the_state_and_cuts_the_chunk_to_the_robots_actions(string family)
    {
        using var policy = new Pi0Policy(Load(family), PolicyTransform.None, cameras: 2, stateDim: 6, actionDim: 6);
        using var input = new Disposing(new PolicyInput(Ref("images"), Ref("tokens").to_type(ScalarType.Int64), Ref("token_masks").to_type(ScalarType.Bool),
                                                        Ref("state").narrow(1, 0, 6)) { ImageMask = Ref("image_masks").to_type(ScalarType.Bool) });
        var chunk = policy.SampleActions(input.Input, Tiny.NumInferenceSteps, noise: Ref("noise"));
        Tolerance.Close(Ref($"{family}.chunk").narrow(2, 0, 6), chunk, what: "chunk");
        Assert.Equal(new PolicySpec { Family = family, Cameras = 2, ImageSize = 32, StateDim = 6, ReadsState = true, Horizon = 5, ActionDim = 6, NumInferenceSteps = 3, NoiseDim = 8, MasksMissingCameras = true, ImageFit = Vla.Config.ImageFit.Pad, Normalization = Vla.Config.NormalizationStyle.LeRobot, Dtype = "float32" },
                     policy.Spec);
        var error = Assert.Throws<ArgumentException>(() => policy.SampleActions(input.Input, 3, noise: Ref("noise").narrow(2, 0, 6)));
        Assert.Contains("chunk_size × max_action_dim", error.Message);
        // The masked camera's pixels never reach the output, NaN included (it is an image of -1, as LeRobot's).
        var poisoned = Ref("images");
        poisoned[1, 1].fill_(float.NaN);
        var masked = policy.SampleActions(input.Input with { Images = poisoned }, Tiny.NumInferenceSteps, noise: Ref("noise"));
        Tolerance.Close(Ref($"{family}.chunk").narrow(2, 0, 6), masked, what: "chunk with a NaN masked camera");
    }

    [Fact]
    public void Weights_that_do_not_fit_are_refused_naming_every_tensor()
    {
        using var folder = new TempFolder();
        var source = SafetensorsFile.Open(Path.Combine(Golden, "pi0-tiny", "model.safetensors"));
        var tensors = source.Entries.Where(e => e.Name != "action_out_proj.bias")
            .Select(e => (e.Name, Tensor: e.Name == "state_proj.weight" ? zeros(3, 3) : source.Read(e.Name)))
            .Append(("paligemma_with_expert.stray.weight", zeros(2))).ToList();
        SafetensorsFile.Write(folder.PathOf("model.safetensors"), tensors);
        using var model = new Pi0Model(Tiny, c => new Pi0Suffix(c));
        var error = Assert.Throws<Vla.Runtime.BadInputException>(() => Pi0Weights.Load(model, folder.Root));
        Assert.Contains("missing tensor 'action_out_proj.bias'", error.Message);
        Assert.Contains("tensor 'state_proj.weight' has shape [3, 3]", error.Message);
        Assert.Contains("unexpected tensor 'paligemma_with_expert.stray.weight'", error.Message);
        Assert.DoesNotContain("lm_head", error.Message); // the expert's unused head is known, the tied table loaded
    }

    [Fact]
    public void Older_names_and_the_other_familys_tensors_map_as_LeRobot_maps_them()
    {
        var pi0 = new Pi0Suffix(Tiny);
        var pi05 = new Pi05Suffix(Tiny);
        Assert.Equal("action_time_mlp_in.weight", Pi0Weights.ParameterName("time_mlp_in.weight", pi0, embedStored: false));
        Assert.Equal("time_mlp_out.bias", Pi0Weights.ParameterName("action_time_mlp_out.bias", pi05, embedStored: false));
        Assert.Null(Pi0Weights.ParameterName("state_proj.weight", pi05, embedStored: false));
        Assert.Equal("state_proj.weight", Pi0Weights.ParameterName("state_proj.weight", pi0, embedStored: false));
        Assert.Null(Pi0Weights.ParameterName("paligemma_with_expert.gemma_expert.lm_head.weight", pi0, embedStored: false));
        Assert.Null(Pi0Weights.ParameterName("paligemma_with_expert.paligemma.lm_head.weight", pi0, embedStored: true));
        Assert.Equal("paligemma_with_expert.paligemma.language_model.embed_tokens.weight",
                     Pi0Weights.ParameterName("paligemma_with_expert.paligemma.lm_head.weight", pi0, embedStored: false));
        Assert.Equal("paligemma_with_expert.paligemma.vision_tower.layers.0.mlp.fc1.weight",
                     Pi0Weights.ParameterName("paligemma_with_expert.paligemma.model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", pi0, embedStored: false));
        Assert.Equal("paligemma_with_expert.gemma_expert.layers.1.input_layernorm.dense.weight",
                     Pi0Weights.ParameterName("paligemma_with_expert.gemma_expert.model.layers.1.input_layernorm.dense.weight", pi05, embedStored: false));
    }

    private sealed class Disposing(PolicyInput input) : IDisposable
    {
        public PolicyInput Input { get; } = input;
        public void Dispose() { foreach (var (_, t) in Input.Tensors) t.Dispose(); }
    }
}
