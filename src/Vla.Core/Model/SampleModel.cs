using Vla.Model.Weights;

namespace Vla.Model;

/// <summary>
/// Writes the sample model folder (<c>data-samples/tiny-paligemma</c>): the <see cref="PaliGemmaConfig.Sample"/>
/// backbone with seeded Hugging Face-style initial weights and the sample SentencePiece tokenizer
/// (trained with Debian's spm_train on the sample prompts; see data-samples/README.md), in the layout of
/// a Hugging Face PaliGemma folder, so the sample configuration needs no download.
/// </summary>
public static class SampleModel
{
    private const string TokenizerResource = "Vla.SampleTokenizer.model";

    /// <summary>Writes config.json, model.safetensors and tokenizer.model into <paramref name="modelDir"/>.</summary>
    public static void Write(string modelDir, long seed)
    {
        Runtime.TorchRuntime.EnsureReady();
        using var model = new PaliGemmaBackbone(PaliGemmaConfig.Sample());
        model.InitializeWeights(seed);
        ModelWeights.SaveBackbone(model, modelDir);
        using var tokenizer = typeof(SampleModel).Assembly.GetManifestResourceStream(TokenizerResource)
            ?? throw new InvalidOperationException($"The {TokenizerResource} resource is missing from Vla.Core.");
        using var file = File.Create(Path.Combine(modelDir, "tokenizer.model"));
        tokenizer.CopyTo(file);
    }
}
