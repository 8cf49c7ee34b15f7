using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Model.PaliGemmaFlow;
using static TorchSharp.torch;

namespace Vla.Tests;

/// <summary>Today's policy family built or loaded for tests that look inside it (its backbone, context, tokenizer).</summary>
internal static class Policies
{
    /// <summary>A new <see cref="VlaModel"/> from <paramref name="config"/>, seeded.</summary>
    public static VlaModel Build(VlaConfig config, long seed, Device? device = null) => (VlaModel)ModelFactory.FromConfig(config, seed, device);

    /// <summary>The <see cref="VlaModel"/> of a checkpoint folder.</summary>
    public static VlaModel Load(string checkpoint, Device? device = null, ScalarType? dtype = null) =>
        (VlaModel)ModelFactory.FromCheckpoint(checkpoint, device, dtype).Policy;
}
