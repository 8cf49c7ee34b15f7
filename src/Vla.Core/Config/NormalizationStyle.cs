namespace Vla.Config;

/// <summary>Whose arithmetic maps a policy's data to its model space and back: the statistics are the same, the epsilons and edge cases are not.</summary>
public enum NormalizationStyle
{
    /// <summary>This workbench's (a degenerate dimension maps to 0 and back to its constant).</summary>
    Workbench,

    /// <summary>LeRobot's processors' (eps 1e-8; a zero spread replaced by 1e-8), for policies trained there.</summary>
    LeRobot,

    /// <summary>openpi's transforms' (eps 1e-6 added to the spread), for policies trained there.</summary>
    OpenPi,
}
