using TorchSharp;
using Vla.Data;
using Vla.Model;
using Vla.Model.Tokenization;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Inference;

/// <summary>
/// The backbone check behind <c>vla caption</c>: loads a PaliGemma folder, preprocesses one image as the
/// Hugging Face processor does, and decodes greedily from <c>&lt;image&gt;… + BOS + prompt + "\n"</c>.
/// </summary>
public sealed class PaliGemmaCaptioner : IDisposable
{
    private readonly PaliGemmaBackbone _model;
    private readonly PaliGemmaTokenizer _tokenizer;
    private readonly IDisposable _owner;

    private PaliGemmaCaptioner(PaliGemmaBackbone model, PaliGemmaTokenizer tokenizer, IDisposable? owner = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _owner = owner ?? model;
        _model.eval(); // no LoRA dropout in generation
    }

    /// <summary>Loads the model and tokenizer of <paramref name="modelDir"/> onto <paramref name="device"/> (the CPU when null), in <paramref name="dtype"/>.</summary>
    public static PaliGemmaCaptioner Load(string modelDir, Device? device = null, ScalarType? dtype = null)
    {
        if (File.Exists(Path.Combine(modelDir, Checkpoints.CheckpointFiles.TrainerState)))
        {
            // A training checkpoint: its backbone as trained (LoRA adapters included, base loaded from where it names).
            var checkpoint = Checkpoints.ModelFactory.FromCheckpoint(modelDir, device, dtype);
            if (checkpoint.Policy is not Model.PaliGemmaFlow.VlaModel policy)
            {
                string family = checkpoint.Policy.Spec.Family;
                checkpoint.Policy.Dispose();
                throw new BadInputException($"{modelDir} holds a {family} policy; captions come from a PaliGemma backbone's checkpoint.");
            }
            return new PaliGemmaCaptioner(policy.Backbone, policy.Tokenizer, owner: policy);
        }
        var tokenizer = PaliGemmaTokenizer.Load(modelDir);
        var model = ModelWeights.LoadBackbone(modelDir, dtype ?? ScalarType.Float32);
        if (device is not null && ComputeDevice.IsCuda(device)) model.to(device);
        return new PaliGemmaCaptioner(model, tokenizer);
    }

    /// <summary>The loaded backbone.</summary>
    public PaliGemmaBackbone Model => _model;

    /// <summary>Greedy continuation of <paramref name="prompt"/> for the image in <paramref name="imagePath"/>.</summary>
    public (string Text, GenerationResult Result) Caption(string imagePath, string prompt, int maxNewTokens)
    {
        if (!File.Exists(imagePath)) throw new BadInputException($"Image {imagePath} does not exist.");
        int size = _model.Config.Vision.ImageSize;
        var pixels = new float[3 * size * size];
        try
        {
            ImagePreprocessor.Preprocess(File.ReadAllBytes(imagePath), size, long.MaxValue, pixels);
        }
        catch (InvalidDataException e)
        {
            throw new BadInputException($"{imagePath}: {e.Message}", e);
        }
        using var scope = NewDisposeScope();
        var images = ComputeDevice.ToDevice(tensor(pixels, [1, 1, 3, size, size]), _model.parameters().First().device);
        var ids = _tokenizer.EncodePrompt(prompt, int.MaxValue, out _);
        var result = _model.GenerateGreedy(images, ids, maxNewTokens);
        return (_tokenizer.Decode(result.TokenIds), result);
    }

    /// <summary>Frees the model.</summary>
    public void Dispose() => _owner.Dispose();
}
