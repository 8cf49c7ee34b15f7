namespace Vla.Data;

/// <summary>
/// One time step's small values, kept in memory for the whole dataset; its images stay in the file and
/// are fetched through <see cref="ImageStore"/> when a batch needs them.
/// </summary>
/// <param name="FileIndex">Index into the dataset's file list.</param>
/// <param name="RowGroup">Parquet row group holding the row.</param>
/// <param name="RowInGroup">Row within the row group.</param>
/// <param name="Row">Row within the file (for messages).</param>
/// <param name="State">Robot state (length <c>state_dim</c>).</param>
/// <param name="Action">Action (length <c>per_action_dim</c>); empty when the file has no action column.</param>
/// <param name="IsFirst">Opens an episode.</param>
/// <param name="IsLast">Closes an episode (informational).</param>
/// <param name="IsTerminal">Terminal step (informational).</param>
/// <param name="Prompt">The instruction.</param>
public sealed record StepRecord(
    int FileIndex, int RowGroup, int RowInGroup, long Row,
    float[] State, float[] Action, bool IsFirst, bool IsLast, bool IsTerminal, string Prompt);
