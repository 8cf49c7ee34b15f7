namespace Vla.Data.Seed;

/// <summary>The Parquet column names of one time step, with the aliases users' files carry.</summary>
public static class StepColumns
{
    /// <summary>Main camera image bytes (PNG/JPEG).</summary>
    public static readonly string[] Image1 = ["image_1", "image_1_bytes"];
    /// <summary>Wrist camera image bytes (optional).</summary>
    public static readonly string[] Image2 = ["image_2", "image_2_bytes"];
    /// <summary>Robot state vector (LeRobot calls it <c>observation.state</c>).</summary>
    public static readonly string[] State = ["state", "observation.state"];
    /// <summary>Per-step action vector.</summary>
    public static readonly string[] Action = ["action"];
    /// <summary>True on an episode's first step.</summary>
    public static readonly string[] IsFirst = ["is_first"];
    /// <summary>True on an episode's last step (informational).</summary>
    public static readonly string[] IsLast = ["is_last"];
    /// <summary>True on a terminal step (informational).</summary>
    public static readonly string[] IsTerminal = ["is_terminal"];
    /// <summary>The language instruction.</summary>
    public static readonly string[] Prompt = ["prompt"];
}
