using Vla.Model;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Tests.Model;

[Collection(ProcessWide.Name)]
public sealed class ModelWeightsTests : IDisposable
{
    private readonly TestFiles _files = new();
    private static string GoldenModel => Path.Combine(TestFiles.RepoRoot, "tests", "golden", "tiny-paligemma-hf");

    public void Dispose() => _files.Dispose();

    /// <summary>Copies the golden model into one file after <paramref name="edit"/> changes its tensor list.</summary>
    private string Edited(Func<List<(string Name, Tensor Tensor)>, List<(string Name, Tensor Tensor)>> edit)
    {
        string dir = _files.PathOf("edited");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(GoldenModel, "config.json"), Path.Combine(dir, "config.json"), overwrite: true);
        var tensors = ModelWeights.Files(GoldenModel).Select(SafetensorsFile.Open)
            .SelectMany(f => f.Entries.Select(e => (e.Name, f.Read(e.Name)))).ToList();
        SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), edit(tensors));
        return dir;
    }

    [Fact]
    public void A_renamed_tensor_is_named_as_unexpected_and_its_original_as_missing()
    {
        string dir = Edited(ts => ts.Select(t => t.Name == "multi_modal_projector.linear.bias" ? ("multi_modal_projector.linear.b", t.Tensor) : t).ToList());
        var e = Assert.Throws<BadInputException>(() => ModelWeights.LoadBackbone(dir));
        Assert.Contains("unexpected tensor 'multi_modal_projector.linear.b' in model.safetensors", e.Message);
        Assert.Contains("missing tensor 'multi_modal_projector.bias' (shape [64])", e.Message);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        string dir = Edited(ts => ts.Where(t => t.Name != "language_model.model.layers.1.mlp.up_proj.weight").ToList());
        var e = Assert.Throws<BadInputException>(() => ModelWeights.LoadBackbone(dir));
        Assert.Equal($"{dir}: the weights do not fit the model: missing tensor 'language_model.layers.1.mlp.up_proj.weight' (shape [128, 64]).", e.Message);
    }

    [Fact]
    public void A_wrongly_shaped_tensor_is_named_with_both_shapes()
    {
        string dir = Edited(ts => ts.Select(t => t.Name.EndsWith("post_layernorm.weight") ? (t.Name, zeros(31)) : t).ToList());
        var e = Assert.Throws<BadInputException>(() => ModelWeights.LoadBackbone(dir));
        Assert.Contains("tensor 'vision_tower.vision_model.post_layernorm.weight' has shape [31] but the model expects [32]", e.Message);
    }

    [Fact]
    public void A_shard_listed_in_the_index_but_absent_is_named()
    {
        string dir = _files.PathOf("sharded");
        Directory.CreateDirectory(dir);
        foreach (var file in new[] { "config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors" })
            File.Copy(Path.Combine(GoldenModel, file), Path.Combine(dir, file));
        var e = Assert.Throws<BadInputException>(() => ModelWeights.LoadBackbone(dir));
        Assert.Contains("lists shard model-00002-of-00002.safetensors", e.Message);
    }

    [Fact]
    public void A_truncated_safetensors_file_is_named()
    {
        string dir = _files.PathOf("truncated");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(GoldenModel, "config.json"), Path.Combine(dir, "config.json"));
        var bytes = File.ReadAllBytes(Path.Combine(GoldenModel, "model-00001-of-00002.safetensors"));
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<BadInputException>(() => ModelWeights.LoadBackbone(dir));
        Assert.Contains("model.safetensors: tensor", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    /// <summary>A safetensors file with <paramref name="header"/> (JSON) and <paramref name="dataBytes"/> zero bytes of data.</summary>
    private string RawSafetensors(string header, int dataBytes = 16)
    {
        string path = _files.PathOf($"raw-{Guid.NewGuid():N}.safetensors");
        var json = System.Text.Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[dataBytes]]);
        return path;
    }

    [Theory]
    [InlineData("""{"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}}""", "tensor 'w' has a shape [4611686018427387904, 4] whose size overflows 64 bits.")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [-4, -1], "data_offsets": [0, 16]}}""", "tensor 'w' has a negative size in its shape [-4, -1].")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}""", "tensor 'w' has a byte range [-16, 0) that does not fit")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0.5, 16]}}""", "the safetensors header is malformed")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}}""", "tensor 'w' has 1 data offsets")]
    [InlineData("""{"w": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}""", "tensor 'w' has a byte range [0, 4000000000) that does not fit")]
    public void A_hostile_header_is_bad_input_naming_file_and_tensor_before_anything_is_allocated(string header, string expected)
    {
        string path = RawSafetensors(header);
        var e = Assert.Throws<BadInputException>(() => SafetensorsFile.Open(path).Read("w"));
        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/model.safetensors")]
    public void A_shard_name_outside_the_model_folder_is_refused(string shard)
    {
        string dir = _files.PathOf("hostile");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), $$$"""{"weight_map": {"w": "{{{shard}}}"} }""");
        var e = Assert.Throws<BadInputException>(() => ModelWeights.Files(dir));
        Assert.Contains($"lists shard '{shard}', which is not a file name inside {dir}", e.Message);
    }

    [Fact]
    public void BF16_and_F16_values_convert_exactly_to_float32()
    {
        string path = _files.PathOf("halves.safetensors");
        var values = tensor(new[] { 1.5f, -2.25f, 3.0e-3f, 65504f });
        SafetensorsFile.Write(path, [("b", values.to_type(ScalarType.BFloat16)), ("h", values.to_type(ScalarType.Float16))]);
        var file = SafetensorsFile.Open(path);
        var b = zeros(4);
        var h = zeros(4);
        file.CopyInto(file.Entries[0], b);
        file.CopyInto(file.Entries[1], h);
        Assert.Equal(values.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32).data<float>().ToArray(), b.data<float>().ToArray());
        Assert.Equal(values.to_type(ScalarType.Float16).to_type(ScalarType.Float32).data<float>().ToArray(), h.data<float>().ToArray());
    }

    [Fact]
    public void A_saved_backbone_loads_back_identically()
    {
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Tiny());
        model.InitializeWeights(3);
        string dir = _files.PathOf("saved");
        ModelWeights.SaveBackbone(model, dir);
        Assert.Contains("language_model.model.embed_tokens.weight", SafetensorsFile.Open(Path.Combine(dir, "model.safetensors")).Entries.Select(e => e.Name));
        using var loaded = ModelWeights.LoadBackbone(dir);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in loaded.named_parameters())
            Assert.True(p.allclose(before[name], rtol: 0, atol: 0), name);
    }
}
