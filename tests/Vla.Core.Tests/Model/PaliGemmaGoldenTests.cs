using Vla.Model;
using Vla.Model.Weights;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

/// <summary>
/// The C# backbone against an independent PyTorch forward written from the Hugging Face semantics
/// (tests/golden/make_golden.py), on a tiny random model stored as Hugging Face shards, one in BF16.
/// </summary>
[Collection(ProcessWide.Name)]
public sealed class PaliGemmaGoldenTests : IDisposable
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");
    private readonly PaliGemmaBackbone _model = ModelWeights.LoadBackbone(Path.Combine(Golden, "tiny-paligemma-hf"));
    private readonly SafetensorsFile _reference = SafetensorsFile.Open(Path.Combine(Golden, "reference.safetensors"));
    private readonly TorchSharp.DisposeScope _scope = NewDisposeScope();

    public void Dispose()
    {
        _scope.Dispose();
        _model.Dispose();
    }

    private Tensor Ref(string name) => _reference.Read(name);

    private long[] PromptIds => Ref("prompt_ids").data<float>().Select(v => (long)v).ToArray();

    private Tensor Images => Ref("pixels").unsqueeze(0); // (1, cameras, 3, H, W)

    [Fact]
    public void Vision_tower_and_projector_match()
    {
        using var noGrad = no_grad();
        var vision = _model.VisionTower.forward(Ref("pixels"));
        Tolerance.Close(Ref("vision_out"), vision, what: "vision tower");
        Tolerance.Close(Ref("projector_out"), _model.EmbedImages(Ref("pixels")), what: "projector");
    }

    [Fact]
    public void Every_decoder_layer_and_the_logits_match()
    {
        using var noGrad = no_grad();
        var ids = tensor(PromptIds, [1, PromptIds.Length]);
        using var prefix = _model.EmbedPrefix(Images, ids, ones_like(ids, ScalarType.Bool));
        var layers = new List<Tensor>();
        var final = _model.EncodePrefix(prefix, layerOutputs: layers);
        for (int i = 0; i < layers.Count; i++) Tolerance.Close(Ref($"layer_{i}"), layers[i], what: $"layer {i}");
        Tolerance.Close(Ref("final_hidden"), final, what: "final hidden");
        Tolerance.Close(Ref("logits_last"), _model.LanguageModel.Logits(final[.., -1]), what: "logits");
        foreach (var layer in layers) layer.Dispose();
    }

    [Fact]
    public void Greedy_generation_with_the_cache_matches_recomputation_from_scratch()
    {
        var result = _model.GenerateGreedy(Images, PromptIds, 6);
        var expected = Ref("greedy_ids").data<float>().Select(v => (long)v).ToArray();
        Assert.Equal(expected, result.TokenIds);
        Tolerance.Close(Ref("logits_last"), tensor(result.FirstStepLogits).unsqueeze(0), what: "first-step logits");
    }

    /// <summary>
    /// The same weights loaded as bfloat16 (8 significant bits: 0.4 % per rounding) against the float32 reference.
    /// The bound is bf16's own: PyTorch 1.13 running make_golden.py's forward in bfloat16 on these weights is off
    /// the float32 reference by 1.2 % of the largest value after the vision tower and 13 % after the decoder
    /// (the random tiny model's residual stream reaches 200, so rounding there is large against the final norm's
    /// output); ours measured 0.75 % and 10.5 %. Tolerances: 2 % and 15 %.
    /// </summary>
    [Fact]
    public void The_bfloat16_backbone_stays_as_close_to_the_float32_reference_as_PyTorchs_bfloat16_does()
    {
        using var model = ModelWeights.LoadBackbone(Path.Combine(Golden, "tiny-paligemma-hf"), ScalarType.BFloat16);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var noGrad = no_grad();
        Tolerance.Close(Ref("vision_out"), model.VisionTower.forward(Ref("pixels")), relative: 0.02, what: "bf16 vision tower");
        var ids = tensor(PromptIds, [1, PromptIds.Length]);
        using var prefix = model.EmbedPrefix(Images, ids, ones_like(ids, ScalarType.Bool));
        var final = model.EncodePrefix(prefix);
        Assert.Equal(ScalarType.BFloat16, final.dtype);
        Tolerance.Close(Ref("final_hidden"), final, relative: 0.15, what: "bf16 final hidden");
        Tolerance.Close(Ref("logits_last"), model.LanguageModel.Logits(final[.., -1]), relative: 0.15, what: "bf16 logits");
    }

    [Fact]
    public void The_newer_transformers_naming_loads_to_the_same_model()
    {
        using var files = new TestFiles();
        string dir = files.PathOf("new-names");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Golden, "tiny-paligemma-hf", "config.json"), Path.Combine(dir, "config.json"));
        var renamed = new List<(string, Tensor)>();
        foreach (var shard in ModelWeights.Files(Path.Combine(Golden, "tiny-paligemma-hf")).Select(SafetensorsFile.Open))
            foreach (var entry in shard.Entries)
                renamed.Add(("model." + entry.Name.Replace("language_model.model.", "language_model."), shard.Read(entry.Name)));
        renamed.Add(("lm_head.weight", renamed.Single(r => r.Item1.EndsWith("embed_tokens.weight")).Item2));
        SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), renamed);

        using var model = ModelWeights.LoadBackbone(dir);
        using var noGrad = no_grad();
        var ids = tensor(PromptIds, [1, PromptIds.Length]);
        using var prefix = model.EmbedPrefix(Images, ids, ones_like(ids, ScalarType.Bool));
        Tolerance.Close(Ref("final_hidden"), model.EncodePrefix(prefix), what: "final hidden (new names)");
    }
}
