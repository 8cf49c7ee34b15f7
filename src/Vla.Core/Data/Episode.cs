namespace Vla.Data;

/// <summary>Consecutive steps from one <c>is_first</c> row up to the next, from one file.</summary>
/// <param name="Index">Position in the dataset.</param>
/// <param name="File">The Parquet file the episode is stored in.</param>
/// <param name="Steps">The steps in time order.</param>
public sealed record Episode(int Index, string File, IReadOnlyList<StepRecord> Steps)
{
    /// <summary>Number of steps.</summary>
    public int Length => Steps.Count;

    /// <summary>The instruction of the first step (episodes carry one instruction).</summary>
    public string Prompt => Steps[0].Prompt;

    /// <summary>Row of the first step in its file.</summary>
    public long FirstRow => Steps[0].Row;
}
