using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>Builds the small GELU MLPs of the head (action and state encoders, context projector).</summary>
public static class Mlp
{
    /// <summary>Linear layers <paramref name="input"/> → hidden… → <paramref name="output"/> with GELU between them.</summary>
    public static Sequential Create(int input, IReadOnlyList<int> hidden, int output)
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        int width = input;
        foreach (int h in hidden)
        {
            layers.Add(nn.Linear(width, h));
            layers.Add(nn.GELU(GELU.Approximate.tanh));
            width = h;
        }
        layers.Add(nn.Linear(width, output));
        return nn.Sequential(layers);
    }
}
