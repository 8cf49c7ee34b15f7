namespace Vla.Data.Seed;

/// <summary>One time step as written to Parquet (the full row, images included).</summary>
/// <param name="Image1">Main camera PNG/JPEG bytes.</param>
/// <param name="Image2">Wrist camera bytes, or null.</param>
/// <param name="State">Robot state.</param>
/// <param name="Action">Action taken at this step.</param>
/// <param name="IsFirst">Opens the episode.</param>
/// <param name="IsLast">Closes the episode.</param>
/// <param name="IsTerminal">Terminal step.</param>
/// <param name="Prompt">Instruction.</param>
public sealed record StepRow(byte[] Image1, byte[]? Image2, float[] State, float[] Action,
    bool IsFirst, bool IsLast, bool IsTerminal, string Prompt);
