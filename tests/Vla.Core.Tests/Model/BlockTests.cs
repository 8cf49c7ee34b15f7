using TorchSharp;
using Vla.Model;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

[Collection(ProcessWide.Name)]
public sealed class BlockTests : IDisposable
{
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose() => _scope.Dispose();

    [Fact]
    public void RmsNorm_scales_by_one_plus_weight_after_normalizing_in_float32()
    {
        using var norm = new RmsNorm(4, 1e-6);
        var x = tensor(new[] { 1f, 2f, 3f, 4f }).unsqueeze(0);
        float rms = MathF.Sqrt((1 + 4 + 9 + 16) / 4f + 1e-6f);
        Assert.Equal(new[] { 1 / rms, 2 / rms, 3 / rms, 4 / rms }, norm.forward(x).data<float>().ToArray(), new FloatTolerance(1e-6f));
        using (no_grad()) norm.parameters().Single().fill_(1f); // weight w = 1 → factor (1 + w) = 2
        Assert.Equal(2 / rms, norm.forward(x)[0, 0].item<float>(), 1e-6f);
        Assert.Equal(ScalarType.BFloat16, norm.forward(x.to_type(ScalarType.BFloat16)).dtype);
    }

    [Fact]
    public void Rotary_embedding_keeps_norms_and_makes_scores_depend_on_relative_position()
    {
        var q = randn(1, 1, 1, 8);
        var k = randn(1, 1, 1, 8);
        float Score(long m, long n)
        {
            var (cm, sm) = RotaryEmbedding.CosSin(tensor(new[] { m }).unsqueeze(0), 8, 10000);
            var (cn, sn) = RotaryEmbedding.CosSin(tensor(new[] { n }).unsqueeze(0), 8, 10000);
            return (RotaryEmbedding.Apply(q, cm, sm) * RotaryEmbedding.Apply(k, cn, sn)).sum().item<float>();
        }
        Assert.Equal(Score(3, 1), Score(12, 10), 1e-4f);
        var (c, s) = RotaryEmbedding.CosSin(tensor(new[] { 7L }).unsqueeze(0), 8, 10000);
        Assert.Equal(q.norm().item<float>(), RotaryEmbedding.Apply(q, c, s).norm().item<float>(), 1e-5f);
    }

    [Fact]
    public void Rotary_embedding_uses_the_split_half_layout()
    {
        // Position 1, head_dim 2: one pair (x0, x1) rotated by angle 1 radian.
        var (c, s) = RotaryEmbedding.CosSin(tensor(new[] { 1L }).unsqueeze(0), 2, 10000);
        var rotated = RotaryEmbedding.Apply(tensor(new[] { 1f, 0f }).view(1, 1, 1, 2), c, s).data<float>().ToArray();
        Assert.Equal(new[] { MathF.Cos(1), MathF.Sin(1) }, rotated, new FloatTolerance(1e-6f));
    }

    [Fact]
    public void Tanh_gelu_is_the_approximation_PaliGemma_uses()
    {
        var y = nn.functional.gelu(tensor(new[] { 1f, -1f }), TorchSharp.Modules.GELU.Approximate.tanh).data<float>().ToArray();
        Assert.Equal(0.8411920f, y[0], 1e-6f); // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        Assert.Equal(-0.1588080f, y[1], 1e-6f);
    }

    [Fact]
    public void Grouped_query_attention_equals_attention_with_repeated_key_value_heads()
    {
        var config = PaliGemmaConfig.Tiny().Text;
        using var attention = new GemmaAttention(config);
        using var full = new GemmaAttention(config with { NumKeyValueHeads = config.NumAttentionHeads });
        using (no_grad())
        {
            var source = attention.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in full.named_parameters())
            {
                var w = source[name];
                // k and v: repeat the single head's rows for every query head.
                p.copy_(w.shape[0] == p.shape[0] ? w : w.view(1, config.HeadDim, -1).repeat(config.NumAttentionHeads, 1, 1).view(p.shape));
            }
        }
        var x = randn(2, 5, config.HiddenSize);
        var positions = arange(1, 6, ScalarType.Int64).unsqueeze(0).expand(2, -1);
        var (cos, sin) = RotaryEmbedding.CosSin(positions, config.HeadDim, config.RopeTheta);
        var mask = AttentionMasks.Prefix(ones(2, 5, ScalarType.Bool));
        Tolerance.Close(full.forward(x, cos, sin, mask, null, 0), attention.forward(x, cos, sin, mask, null, 0), 1e-5, "GQA");
    }

    [Fact]
    public void Prefix_mask_is_bidirectional_and_hides_padding_keys()
    {
        var mask = AttentionMasks.Prefix(tensor(new[] { true, true, false }).unsqueeze(0));
        Assert.Equal([1L, 1, 3, 3], mask.shape);
        foreach (int row in new[] { 0, 1, 2 })
            Assert.Equal(new[] { true, true, false }, mask[0, 0, row].data<bool>().ToArray());
    }

    [Fact]
    public void Suffix_mask_sees_the_prefix_and_earlier_new_tokens_only()
    {
        var mask = AttentionMasks.Suffix(tensor(new[] { true, false }).unsqueeze(0), 2);
        Assert.Equal([1L, 1, 2, 4], mask.shape);
        Assert.Equal(new[] { true, false, true, false }, mask[0, 0, 0].data<bool>().ToArray());
        Assert.Equal(new[] { true, false, true, true }, mask[0, 0, 1].data<bool>().ToArray());
    }

    [Fact]
    public void Image_features_enter_the_prefix_divided_by_the_square_root_of_the_text_width()
    {
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Tiny());
        using var noGrad = no_grad();
        var images = rand([1, 2, 3, 64, 64]) * 2 - 1;
        var ids = tensor(new long[] { 2, 7, 9 }).unsqueeze(0);
        using var prefix = model.EmbedPrefix(images, ids, ones_like(ids, ScalarType.Bool));
        int n = model.Config.NumImageTokens;
        Assert.Equal([1L, 2 * n + 3, 64], prefix.Embeddings.shape);
        var features = model.EmbedImages(images[0]).reshape(1, 2 * n, 64) / MathF.Sqrt(64);
        Tolerance.Close(features, prefix.Embeddings[.., ..(2 * n)], 1e-6, "image part");
        Assert.Equal(new long[] { 1, 2, 3 }, prefix.Positions[0, ..3].data<long>().ToArray()); // positions start at 1
    }

    [Fact]
    public void Freezing_stops_gradients_per_part()
    {
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Tiny());
        model.Freeze(visionTower: true, languageModel: false);
        Assert.All(model.VisionTower.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(model.LanguageModel.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void The_KV_cache_holds_no_tensor_after_disposal_and_generation_leaks_none()
    {
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Tiny());
        model.InitializeWeights(1);
        var images = zeros([1, 1, 3, 64, 64]);
        model.GenerateGreedy(images, [2, 5, 6], 3); // warm-up: lazily created tensors
        long before = DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) model.GenerateGreedy(images, [2, 5, 6], 4);
        Assert.Equal(before, DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount);
    }
}
