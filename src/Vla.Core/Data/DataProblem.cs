namespace Vla.Data;

/// <summary>One thing wrong with the input data, located precisely enough to fix it.</summary>
/// <param name="File">The Parquet file.</param>
/// <param name="Row">Zero-based row in the file, or null for a file-level problem.</param>
/// <param name="Column">The column at fault, or null.</param>
/// <param name="Message">What is wrong, as the end of a sentence.</param>
public sealed record DataProblem(string File, long? Row, string? Column, string Message)
{
    /// <summary>One sentence: file, row, column, problem.</summary>
    public override string ToString() =>
        $"{File}{(Row is null ? "" : $", row {Row}")}{(Column is null ? "" : $", column '{Column}'")}: {Message}";
}
