using System.Text.Json.Nodes;
using Vla.Model;
using Vla.Runtime;

namespace Vla.Tests.Model;

[Collection(ProcessWide.Name)]
public class PaliGemmaConfigTests
{
    /// <summary>The keys google/paligemma-3b-pt-224's config.json carries; everything else takes HF defaults.</summary>
    private const string Hub3B = """
        {"architectures": ["PaliGemmaForConditionalGeneration"], "bos_token_id": 2, "eos_token_id": 1, "hidden_size": 2048,
         "ignore_index": -100, "image_token_index": 257152, "model_type": "paligemma", "pad_token_id": 0, "projection_dim": 2048,
         "text_config": {"hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2048, "intermediate_size": 16384, "model_type": "gemma",
                         "num_attention_heads": 8, "num_hidden_layers": 18, "num_image_tokens": 256, "num_key_value_heads": 1,
                         "torch_dtype": "float32", "vocab_size": 257216},
         "torch_dtype": "float32", "transformers_version": "4.41.0.dev0",
         "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "model_type": "siglip_vision_model", "num_attention_heads": 16,
                           "num_hidden_layers": 27, "num_image_tokens": 256, "patch_size": 14, "projection_dim": 2048,
                           "projector_hidden_act": "gelu_fast", "vision_use_head": false}}
        """;

    [Fact]
    public void The_hub_3B_config_with_HF_defaults_is_PaliGemma_3B()
    {
        var config = PaliGemmaConfig.FromJson(JsonNode.Parse(Hub3B)!.AsObject());
        Assert.Equal(PaliGemmaConfig.Pt224(), config);
        Assert.Equal(256, config.NumImageTokens);
        Assert.Equal(224, config.Vision.ImageSize);
        Assert.Equal(256, config.Text.HeadDim);
        Assert.Equal(1e-6, config.Text.RmsNormEps);
    }

    [Fact]
    public void The_3B_model_has_2_92_billion_parameters()
    {
        // keras-hub lists 2,923,335,408 for pali_gemma_3b_224 with a 257,152-token vocabulary; the Hugging
        // Face checkpoint's embedding has 257,216 rows, 64 × 2048 = 131,072 parameters more.
        Assert.Equal(2_923_335_408L + 64 * 2048, PaliGemmaConfig.Pt224().ParameterCount);
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("sample")]
    public void The_counted_parameters_equal_the_built_module(string which)
    {
        var config = which == "tiny" ? PaliGemmaConfig.Tiny() : PaliGemmaConfig.Sample();
        using var model = new PaliGemmaBackbone(config);
        Assert.Equal(config.ParameterCount, model.ParameterCount);
    }

    [Fact]
    public void Missing_sections_take_HF_defaults()
    {
        var config = PaliGemmaConfig.FromJson(JsonNode.Parse("""{"projection_dim": 3072, "text_config": {"vocab_size": 257216}}""")!.AsObject());
        Assert.Equal(768, config.Vision.HiddenSize);
        Assert.Equal(16, config.Vision.PatchSize);
        Assert.Equal(3072, config.Text.HiddenSize);
        Assert.Equal(28, config.Text.NumHiddenLayers);
        Assert.Equal(256000, config.ImageTokenIndex);
    }

    [Fact]
    public void An_image_token_outside_the_vocabulary_is_refused()
    {
        var e = Assert.Throws<BadInputException>(() => PaliGemmaConfig.FromJson(JsonNode.Parse("""{"projection_dim": 3072}""")!.AsObject()));
        Assert.Equal("image_token_index (256000) is outside the vocabulary of 256000.", e.Message);
    }

    [Fact]
    public void A_wrongly_typed_key_is_named()
    {
        var e = Assert.Throws<BadInputException>(() => PaliGemmaConfig.FromJson(JsonNode.Parse("""{"vision_config": {"patch_size": "big"}}""")!.AsObject()));
        Assert.Contains("'patch_size'", e.Message);
    }

    [Fact]
    public void The_written_json_reads_back_equal()
    {
        var config = PaliGemmaConfig.Sample();
        Assert.Equal(config, PaliGemmaConfig.FromJson(JsonNode.Parse(config.ToJson())!.AsObject()));
    }
}
