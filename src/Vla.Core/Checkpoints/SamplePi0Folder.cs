using Vla.Data;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Tokenization;
using Vla.Runtime;

namespace Vla.Checkpoints;

/// <summary>
/// Writes the sample pi0 folder (<c>data-samples/tiny-pi0</c>): a LeRobot pi0 policy folder in the released layout whose
/// model is tiny (the sample PaliGemma's shape, a 64-wide expert, seeded random weights) and whose <c>config.json</c> says
/// so under <c>test_shapes</c>, with the sample tokenizer; the state and action padding (32) is the released one. It stands
/// in for <c>lerobot/pi0_base</c> where no download is possible: fine-tuning, serving and exporting run on it unchanged.
/// </summary>
public static class SamplePi0Folder
{
    /// <summary>Writes the folder into <paramref name="directory"/>, its weights drawn from <paramref name="seed"/>.</summary>
    public static void Write(string directory, long seed)
    {
        TorchRuntime.EnsureReady();
        var config = new Pi0Config
        {
            PaliGemma = PaliGemmaConfig.Sample(),
            Expert = new GemmaConfig { VocabSize = 0, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 32 },
            TokenizerMaxLength = 48,
        };
        Pi0Model? model = null;
        ModelFactory.Seeding(seed, () => model = new Pi0Model(config, c => new Pi0Suffix(c)));
        using var policy = new Pi0Policy(model!, new Pi0Transform(PaliGemmaTokenizer.Sample(), config.TokenizerMaxLength), cameras: 2, stateDim: 7, actionDim: 7);
        DimensionStats Unit(int dim) => new()
        {
            Mean = new float[dim], Std = Filled(dim, 1), Min = Filled(dim, -1), Max = Filled(dim, 1), Q01 = Filled(dim, -1), Q99 = Filled(dim, 1), Count = 0,
        };
        var stats = new NormalizationStats { State = Unit(7), Action = Unit(7) };
        LeRobotPolicyWriter.Save(policy, stats, NormalizationMode.ZScore, ["observation.images.image_1", "observation.images.image_2"], directory);
    }

    private static float[] Filled(int dim, float value) => Enumerable.Repeat(value, dim).ToArray();
}
