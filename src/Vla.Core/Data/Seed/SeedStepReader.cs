using Parquet;
using Parquet.Schema;
using Vla.Data.Parquet;
using Vla.Runtime;

namespace Vla.Data.Seed;

/// <summary>
/// Reads the small columns of one seed-schema Parquet file (state, action, flags, prompt) into <see cref="StepRecord"/>s,
/// checking every value (<see cref="ParquetColumns"/>), and optionally the image headers.
/// </summary>
public static class SeedStepReader
{
    /// <summary>The rows of one file and the problems found in it.</summary>
    /// <param name="File">The Parquet file.</param>
    /// <param name="Steps">Its rows.</param>
    /// <param name="Problems">Everything wrong in it.</param>
    /// <param name="Columns">Its top-level columns.</param>
    /// <param name="BrokenFrames">Frames set aside under <see cref="DataOptions.SkipBadFrames"/> (otherwise they are problems).</param>
    public sealed record FileSteps(string File, IReadOnlyList<StepRecord> Steps, IReadOnlyList<DataProblem> Problems, IReadOnlyList<string> Columns,
        IReadOnlyList<DataProblem> BrokenFrames);

    /// <summary>Reads file number <paramref name="fileIndex"/> of a dataset.</summary>
    public static async Task<FileSteps> ReadAsync(string path, int fileIndex, DataOptions options, CancellationToken ct = default)
    {
        await using var reader = await ParquetColumns.OpenAsync(path, ct);
        var schema = reader.Schema;
        var problems = new List<DataProblem>();
        var columns = schema.Fields.Select(f => f.Name).ToList();

        var fields = Fields(schema, path, options, columns, problems);
        if (problems.Count > 0) return new FileSteps(path, [], problems, columns, []);

        var steps = new List<StepRecord>();
        var broken = new List<DataProblem>();
        var frameProblems = options.SkipBadFrames ? broken : problems;
        long rowBase = 0;
        var prompts = new Dictionary<string, string>(); // interned: episodes repeat one prompt per row
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            ct.ThrowIfCancellationRequested();
            using var group = reader.OpenRowGroupReader(g);
            int rows = checked((int)group.RowCount);
            var stateRows = await ParquetColumns.ReadVectorsAsync(group, fields.State!, rows, options.StateDim, path, rowBase, problems, ct);
            var actionRows = fields.Action is null ? null : await ParquetColumns.ReadVectorsAsync(group, fields.Action, rows, options.PerActionDim, path, rowBase, problems, ct);
            var first = await ParquetColumns.ReadBoolsAsync(group, fields.IsFirst!, rows, path, rowBase, problems, ct);
            var last = fields.IsLast is null ? null : await ParquetColumns.ReadBoolsAsync(group, fields.IsLast, rows, path, rowBase, problems, ct);
            var terminal = fields.IsTerminal is null ? null : await ParquetColumns.ReadBoolsAsync(group, fields.IsTerminal, rows, path, rowBase, problems, ct);
            var texts = await ParquetColumns.ReadStringsAsync(group, fields.Prompt!, rows, path, rowBase, problems, ct);
            if (options.VerifyImages)
            {
                await VerifyImagesAsync(group, fields.Image1!, path, rowBase, options, required: true, frameProblems, ct);
                if (fields.Image2 is not null)
                    await VerifyImagesAsync(group, fields.Image2, path, rowBase, options, required: options.RequireImage2, frameProblems, ct);
            }
            for (int r = 0; r < rows; r++)
            {
                string text = texts[r];
                if (!prompts.TryGetValue(text, out var interned)) prompts[text] = interned = text;
                steps.Add(new StepRecord(fileIndex, g, r, rowBase + r, stateRows[r], actionRows?[r] ?? [],
                    first[r], last?[r] ?? false, terminal?[r] ?? false, interned));
            }
            rowBase += rows;
            if (!options.CollectProblems && problems.Count > 0) break;
        }
        // Without a configured length, the length most of the file's rows have is the expectation (decided over the
        // whole file: a row group, say an episode, of another length is then reported too).
        if (options.StateDim is null) ReportOddLengths(steps, s => s.State, StepColumns.State[0], path, problems);
        if (options.PerActionDim is null && fields.Action is not null) ReportOddLengths(steps, s => s.Action, StepColumns.Action[0], path, problems);
        if (steps.Count == 0 && problems.Count == 0)
            problems.Add(new DataProblem(path, null, null, "the file has no rows."));
        return new FileSteps(path, steps, problems, columns, broken);
    }

    /// <summary>The seed schema's columns as this file names them (null where an optional one is absent).</summary>
    private sealed record SeedFields(DataField? Image1, DataField? Image2, DataField? State, DataField? Action, DataField? IsFirst, DataField? IsLast,
        DataField? IsTerminal, DataField? Prompt);

    /// <summary>Finds the seed schema's columns; each required one that is missing is a problem naming the columns present.</summary>
    private static SeedFields Fields(ParquetSchema schema, string path, DataOptions options, List<string> columns, List<DataProblem> problems)
    {
        DataField? Require(string[] names)
        {
            var field = ParquetColumns.FindColumn(schema, names);
            if (field is null)
                problems.Add(new DataProblem(path, null, names[0], $"required column is missing (columns present: {string.Join(", ", columns)})."));
            return field;
        }

        return new SeedFields(
            Image1: Require(StepColumns.Image1),
            Image2: options.RequireImage2 ? Require(StepColumns.Image2) : ParquetColumns.FindColumn(schema, StepColumns.Image2),
            State: Require(StepColumns.State),
            Action: options.RequireAction ? Require(StepColumns.Action) : ParquetColumns.FindColumn(schema, StepColumns.Action),
            IsFirst: Require(StepColumns.IsFirst),
            IsLast: ParquetColumns.FindColumn(schema, StepColumns.IsLast),
            IsTerminal: ParquetColumns.FindColumn(schema, StepColumns.IsTerminal),
            Prompt: Require(StepColumns.Prompt));
    }

    /// <summary>Rows whose vector length differs from the one most of <paramref name="steps"/> have, as problems.</summary>
    private static void ReportOddLengths(List<StepRecord> steps, Func<StepRecord, float[]> vector, string column, string path, List<DataProblem> problems)
    {
        int expected = ParquetColumns.MostCommonLength(steps.Select(vector));
        foreach (var step in steps.Where(s => vector(s).Length != expected))
            problems.Add(new DataProblem(path, step.Row, column, $"expected {expected} values (the length most rows have), found {vector(step).Length}."));
    }

    private static async Task VerifyImagesAsync(ParquetRowGroupReader group, DataField field, string path, long rowBase,
        DataOptions options, bool required, List<DataProblem> problems, CancellationToken ct)
    {
        var images = await ParquetColumns.ReadBinaryAsync(group, field, path, ct);
        string column = field.Path.FirstPart!;
        for (int r = 0; r < images.Length; r++)
        {
            if (images[r] is not { Length: > 0 } bytes)
            {
                if (required) problems.Add(new DataProblem(path, rowBase + r, column, "the image is missing."));
                continue;
            }
            string? why = options.DecodeImages ? ImagePreprocessor.CheckFully(bytes, options.MaxImagePixels) : ImagePreprocessor.CheckHeader(bytes, options.MaxImagePixels);
            if (why is not null)
                problems.Add(new DataProblem(path, rowBase + r, column, why));
        }
    }

}
