using Vla.Model.Tokenization;
using Vla.Model.Weights;

namespace Vla.Model;

/// <summary>
/// Writes the sample model folder (<c>data-samples/tiny-paligemma</c>): the <see cref="PaliGemmaConfig.Sample"/>
/// backbone with seeded Hugging Face-style initial weights and the sample SentencePiece tokenizer
/// (trained with Debian's spm_train on the sample prompts; see data-samples/README.md), in the layout of
/// a Hugging Face PaliGemma folder, so the sample configuration needs no download.
/// </summary>
public static class SampleModelFolder
{
    /// <summary>Writes config.json, model.safetensors and tokenizer.model into <paramref name="modelDir"/>.</summary>
    public static void Write(string modelDir, long seed)
    {
        Runtime.TorchRuntime.EnsureReady();
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Sample());
        model.InitializeWeights(seed);
        ModelWeights.SaveBackbone(model, modelDir);
        PaliGemmaTokenizer.Sample().Save(Path.Combine(modelDir, "tokenizer.model"));
    }
}
