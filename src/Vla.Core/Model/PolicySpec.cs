namespace Vla.Model;

/// <summary>
/// What a policy reads and predicts, declared by the policy: every consumer (the loader, the predictor, the evaluator,
/// the server, replays) sizes its inputs and outputs from it instead of from a run configuration.
/// </summary>
public sealed record PolicySpec
{
    /// <summary>The policy family (<c>model.policy</c>): <c>paligemma_flow</c> today.</summary>
    public required string Family { get; init; }
    /// <summary>Cameras read, the main camera first (a second one is the wrist camera).</summary>
    public required int Cameras { get; init; }
    /// <summary>Side of the square every frame is resized to.</summary>
    public required int ImageSize { get; init; }
    /// <summary>Values of the robot state in the data (<c>data.state_dim</c>).</summary>
    public required int StateDim { get; init; }
    /// <summary>Whether the policy reads the state (a policy that does not still gets a normalized state of <see cref="StateDim"/>).</summary>
    public required bool ReadsState { get; init; }
    /// <summary>Action steps in a chunk.</summary>
    public required int Horizon { get; init; }
    /// <summary>Values of one action step.</summary>
    public required int ActionDim { get; init; }
    /// <summary>Euler steps a chunk takes unless the caller says otherwise.</summary>
    public required int NumInferenceSteps { get; init; }
    /// <summary>Values of one noise step, when wider than <see cref="ActionDim"/> (pi0 and pi0.5 sample in <c>max_action_dim</c>).</summary>
    public int? NoiseDim { get; init; }
    /// <summary>How frames of other shapes become its square input (<see cref="Config.ImageFit.Stretch"/> unless it says otherwise).</summary>
    public Config.ImageFit ImageFit { get; init; }
    /// <summary>Whose arithmetic normalizes its state and actions (this workbench's unless it says otherwise).</summary>
    public Config.NormalizationStyle Normalization { get; init; }
    /// <summary>Whether a camera after the main one may be missing from an observation: the policy masks its tokens out (LeRobot's pi0 and pi0.5).</summary>
    public bool MasksMissingCameras { get; init; }
    /// <summary>The dtype the policy's large weights compute in (<c>float32</c>, <c>bfloat16</c>, <c>float16</c>).</summary>
    public required string Dtype { get; init; }
}
