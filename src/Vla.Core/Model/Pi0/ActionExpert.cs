using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>One layer of the action expert: Gemma's attention and MLP with the family's norms.</summary>
public sealed class ExpertLayer : nn.Module
{
    private readonly ExpertNorm input_layernorm;
    private readonly GemmaAttention self_attn;
    private readonly ExpertNorm post_attention_layernorm;
    private readonly GemmaMlp mlp;

    /// <summary>Creates the layer (projections drawn unless <paramref name="initialize"/> is false); <paramref name="norm"/> makes each of its two norms.</summary>
    public ExpertLayer(GemmaConfig config, Func<ExpertNorm> norm, bool initialize = true) : base(nameof(ExpertLayer))
    {
        input_layernorm = norm();
        self_attn = new GemmaAttention(config, initialize: initialize);
        post_attention_layernorm = norm();
        mlp = new GemmaMlp(config, initialize: initialize);
        RegisterComponents();
    }

    /// <summary>The norm before attention.</summary>
    public ExpertNorm InputNorm => input_layernorm;
    /// <summary>The self-attention (its queries and keys join the backbone's).</summary>
    public GemmaAttention Attention => self_attn;
    /// <summary>The norm before the MLP.</summary>
    public ExpertNorm PostAttentionNorm => post_attention_layernorm;
    /// <summary>The feed-forward.</summary>
    public GemmaMlp Mlp => mlp;
}

/// <summary>
/// The action expert (Gemma-300M in pi0 and pi0.5): decoder layers and a final norm, no token embedding. Its tokens attend
/// together with the backbone's in every layer (<see cref="JointTransformer"/>).
/// </summary>
public sealed class ActionExpert : nn.Module
{
    private readonly ModuleList<ExpertLayer> layers;
    private readonly ExpertNorm norm;

    /// <summary>Creates the expert of shape <paramref name="config"/> (projections drawn unless <paramref name="initialize"/> is false); <paramref name="norm"/> makes every norm.</summary>
    public ActionExpert(GemmaConfig config, Func<ExpertNorm> norm, bool initialize = true) : base(nameof(ActionExpert))
    {
        Config = config;
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ExpertLayer(config, norm, initialize)).ToArray());
        this.norm = norm();
        RegisterComponents();
    }

    /// <summary>The expert's shape.</summary>
    public GemmaConfig Config { get; }

    /// <summary>The layers, in order.</summary>
    public IList<ExpertLayer> Layers => layers;

    /// <summary>The final norm.</summary>
    public ExpertNorm FinalNorm => norm;
}
