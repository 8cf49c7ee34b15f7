namespace Vla.Notebooks;

/// <summary>How one code cell went.</summary>
/// <param name="Number">The cell's position in the notebook, 1-based, counting every cell (as editors show them).</param>
/// <param name="Elapsed">Wall time of the cell.</param>
/// <param name="Error">The failure, or null when the cell succeeded.</param>
internal sealed record CellReport(int Number, TimeSpan Elapsed, string? Error);

/// <summary>How one notebook went: its code cells in order, up to and including the first failure.</summary>
/// <param name="Notebook">The notebook's path.</param>
/// <param name="ExecutedPath">Where the executed copy (with outputs) was written, or null.</param>
/// <param name="CellCount">Cells in the notebook, markdown included.</param>
/// <param name="Cells">Code cells run.</param>
/// <param name="TimedOut">The last cell exceeded the time limit and is still running.</param>
internal sealed record NotebookReport(string Notebook, string? ExecutedPath, int CellCount, IReadOnlyList<CellReport> Cells, bool TimedOut)
{
    /// <summary>The first failed cell, or null.</summary>
    public CellReport? Failure => Cells.FirstOrDefault(c => c.Error is not null);
}
