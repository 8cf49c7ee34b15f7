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
}
