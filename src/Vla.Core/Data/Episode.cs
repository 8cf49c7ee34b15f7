namespace Vla.Data;

/// <summary>Consecutive steps of one recording: from one <c>is_first</c> row up to the next (seed schema), or one LeRobot episode.</summary>
/// <param name="Index">Position in the dataset.</param>
/// <param name="File">The Parquet file the episode is stored in.</param>
/// <param name="Steps">The steps in time order.</param>
/// <param name="SourceIndex">The episode's number in its dataset when it differs from <paramref name="Index"/>: LeRobot's <c>episode_index</c>, or the position before a selection.</param>
public sealed record Episode(int Index, string File, IReadOnlyList<StepRecord> Steps, int? SourceIndex = null)
{
    /// <summary>The number users know the episode by (LeRobot's <c>episode_index</c>; else its position in the data).</summary>
    public int Id => SourceIndex ?? Index;

    /// <summary>Number of steps.</summary>
    public int Length => Steps.Count;

    /// <summary>The instruction of the first step (episodes carry one instruction).</summary>
    public string Prompt => Steps[0].Prompt;

    /// <summary>Row of the first step in its file.</summary>
    public long FirstRow => Steps[0].Row;
}
