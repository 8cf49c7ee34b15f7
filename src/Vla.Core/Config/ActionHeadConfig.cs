namespace Vla.Config;

/// <summary>The <c>model.action_head_config:</c> section: the flow-matching head and the action layout.</summary>
public sealed record ActionHeadConfig
{
    /// <summary>Add a token made from the normalized robot state.</summary>
    public bool UseStateInput { get; init; } = true;

    /// <summary>Future steps predicted per chunk.</summary>
    public int Horizon { get; init; } = 8;

    /// <summary>Values per action step.</summary>
    public int PerActionDim { get; init; } = 7;

    /// <summary>Flattened chunk length; must equal horizon × per_action_dim.</summary>
    public int ActionDim { get; init; } = 56;

    /// <summary>Bins over [-1, 1] used by evaluation's discretized accuracy (not by the model).</summary>
    public int NumActionBins { get; init; } = 1024;

    /// <summary>Hidden sizes of the per-step action and state encoder MLPs.</summary>
    public List<int> MlpHiddenDims { get; init; } = [512, 256];

    /// <summary>Dropout inside the head's blocks.</summary>
    public double DropoutProb { get; init; } = 0.1;

    /// <summary>Width of the head's tokens.</summary>
    public int HiddenDim { get; init; } = 512;

    /// <summary>Self-attention → cross-attention → MLP blocks.</summary>
    public int NumLayers { get; init; } = 4;

    /// <summary>Attention heads; must divide hidden_dim.</summary>
    public int NumHeads { get; init; } = 8;

    /// <summary>Euler steps from noise (t = 1) to data (t = 0) at inference, as pi0.</summary>
    public int NumInferenceSteps { get; init; } = 10;
}
