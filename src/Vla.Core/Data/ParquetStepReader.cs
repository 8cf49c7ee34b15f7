using Parquet;
using Parquet.Data;
using Parquet.Schema;
using Vla.Runtime;

namespace Vla.Data;

/// <summary>
/// Reads the small columns of one Parquet file (state, action, flags, prompt) into <see cref="StepRecord"/>s
/// through Parquet.Net's raw column API, checking every value, and optionally the image headers.
/// Works on files written by pyarrow (LeRobot) and by Parquet.Net.
/// </summary>
public static class ParquetStepReader
{
    /// <summary>The rows of one file and the problems found in it.</summary>
    /// <param name="File">The Parquet file.</param>
    /// <param name="Steps">Its rows.</param>
    /// <param name="Problems">Everything wrong in it.</param>
    /// <param name="Columns">Its top-level columns.</param>
    /// <param name="BrokenFrames">Frames set aside under <see cref="DataOptions.SkipBadFrames"/> (otherwise they are problems).</param>
    public sealed record FileSteps(string File, IReadOnlyList<StepRecord> Steps, IReadOnlyList<DataProblem> Problems, IReadOnlyList<string> Columns,
        IReadOnlyList<DataProblem> BrokenFrames);

    /// <summary>Opens a Parquet file, turning "not Parquet" and "truncated" into a <see cref="BadInputException"/> naming it.</summary>
    public static async Task<ParquetReader> OpenAsync(string path, CancellationToken ct = default)
    {
        Stream? stream = null;
        try
        {
            stream = File.OpenRead(path);
            return await ParquetReader.CreateAsync(stream, leaveStreamOpen: false, cancellationToken: ct);
        }
        catch (Exception e) when (e is not OperationCanceledException and not BadInputException)
        {
            if (stream is not null) await stream.DisposeAsync();
            throw new BadInputException($"{path}: not a readable Parquet file ({e.Message.TrimEnd('.')}); is it truncated or of another format?", e);
        }
    }

    /// <summary>
    /// Finds the first of <paramref name="names"/> among the file's top-level columns; an image stored as a struct (LeRobot's
    /// <c>image</c> features: <c>{bytes, path}</c>) is found as its <c>bytes</c> field.
    /// </summary>
    public static DataField? FindColumn(ParquetSchema schema, string[] names)
    {
        foreach (var name in names)
        {
            var fields = schema.GetDataFields().Where(f => f.Path.FirstPart == name).ToList();
            var field = fields.FirstOrDefault(f => f.Path.ToList() is [_, "bytes"]) ?? fields.FirstOrDefault();
            if (field is not null) return field;
        }
        return null;
    }

    /// <summary>Reads file number <paramref name="fileIndex"/> of a dataset.</summary>
    public static async Task<FileSteps> ReadAsync(string path, int fileIndex, DataOptions options, CancellationToken ct = default)
    {
        await using var reader = await OpenAsync(path, ct);
        var schema = reader.Schema;
        var problems = new List<DataProblem>();
        var columns = schema.Fields.Select(f => f.Name).ToList();

        DataField? Require(string[] names)
        {
            var field = FindColumn(schema, names);
            if (field is null)
                problems.Add(new DataProblem(path, null, names[0], $"required column is missing (columns present: {string.Join(", ", columns)})."));
            return field;
        }

        var image1 = Require(StepColumns.Image1);
        var image2 = options.RequireImage2 ? Require(StepColumns.Image2) : FindColumn(schema, StepColumns.Image2);
        var state = Require(StepColumns.State);
        var action = options.RequireAction ? Require(StepColumns.Action) : FindColumn(schema, StepColumns.Action);
        var isFirst = Require(StepColumns.IsFirst);
        var isLast = FindColumn(schema, StepColumns.IsLast);
        var isTerminal = FindColumn(schema, StepColumns.IsTerminal);
        var prompt = Require(StepColumns.Prompt);
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
            var stateRows = await ReadVectorsAsync(group, state!, rows, options.StateDim, path, rowBase, problems, ct);
            var actionRows = action is null ? null : await ReadVectorsAsync(group, action, rows, options.PerActionDim, path, rowBase, problems, ct);
            var first = await ReadBoolsAsync(group, isFirst!, rows, path, rowBase, problems, ct);
            var last = isLast is null ? null : await ReadBoolsAsync(group, isLast, rows, path, rowBase, problems, ct);
            var terminal = isTerminal is null ? null : await ReadBoolsAsync(group, isTerminal, rows, path, rowBase, problems, ct);
            var texts = await ReadStringsAsync(group, prompt!, rows, path, rowBase, problems, ct);
            if (options.VerifyImages)
            {
                await VerifyImagesAsync(group, image1!, path, rowBase, options, required: true, frameProblems, ct);
                if (image2 is not null)
                    await VerifyImagesAsync(group, image2, path, rowBase, options, required: options.RequireImage2, frameProblems, ct);
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
        if (options.PerActionDim is null && action is not null) ReportOddLengths(steps, s => s.Action, StepColumns.Action[0], path, problems);
        if (steps.Count == 0 && problems.Count == 0)
            problems.Add(new DataProblem(path, null, null, "the file has no rows."));
        return new FileSteps(path, steps, problems, columns, broken);
    }

    /// <summary>Rows whose vector length differs from the one most of <paramref name="steps"/> have, as problems.</summary>
    private static void ReportOddLengths(List<StepRecord> steps, Func<StepRecord, float[]> vector, string column, string path, List<DataProblem> problems)
    {
        int expected = MostCommonLength(steps.Select(vector));
        foreach (var step in steps.Where(s => vector(s).Length != expected))
            problems.Add(new DataProblem(path, step.Row, column, $"expected {expected} values (the length most rows have), found {vector(step).Length}."));
    }

    /// <summary>
    /// Splits a <c>list&lt;float&gt;</c> (or <c>list&lt;double&gt;</c>) column into one vector per row: a repetition
    /// level of 0 opens a row; only fully defined levels carry a value (<c>Values</c> is dense). Rows whose length
    /// differs from <paramref name="expectedLength"/> are problems; without one, the caller judges lengths over the file.
    /// </summary>
    internal static async Task<float[][]> ReadVectorsAsync(ParquetRowGroupReader group, DataField field, int rows, int? expectedLength,
        string path, long rowBase, List<DataProblem> problems, CancellationToken ct)
    {
        string column = field.Path.FirstPart!;
        var result = new float[rows][];
        if (field.MaxRepetitionLevel == 0)
        {
            problems.Add(new DataProblem(path, null, column, $"expected a list of floats, found a scalar {field.ClrType.Name} column."));
            Array.Fill(result, Array.Empty<float>());
            return result;
        }
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        float[] values = raw switch
        {
            RawColumnData<float> f => f.Values.ToArray(),
            RawColumnData<double> d => Array.ConvertAll(d.Values.ToArray(), v => (float)v),
            _ => throw new BadInputException($"{path}, column '{column}': expected a list of float or double, found {field.ClrType.Name}."),
        };
        var rep = raw.RepetitionLevels;
        var def = raw.DefinitionLevels;
        int maxDef = field.MaxDefinitionLevel;
        var damaged = new BadInputException($"{path}, column '{column}': the column's levels do not match its {values.Length} values and " +
            $"{rows} rows (the file is damaged or was written inconsistently); rewrite it.");
        if (def.Length != rep.Length) throw damaged;
        var hasNull = new bool[rows];
        int row = -1, next = 0;
        var current = new List<float>();
        for (int i = 0; i < rep.Length; i++)
        {
            if (rep[i] == 0)
            {
                if (row >= 0) result[row] = current.ToArray();
                if (++row >= rows) throw damaged;
                current.Clear();
            }
            else if (row < 0) throw damaged;
            if (def[i] == maxDef)
            {
                if (next >= values.Length) throw damaged;
                current.Add(values[next++]);
            }
            else if (def[i] == maxDef - 1 && field.IsNullable) hasNull[row] = true; // a null element; lower levels are null or empty lists
        }
        if (row >= 0) result[row] = current.ToArray();
        if (row + 1 != rows || next != values.Length) throw damaged;

        for (int r = 0; r < rows; r++)
        {
            long at = rowBase + r;
            if (hasNull[r])
                problems.Add(new DataProblem(path, at, column, "the vector contains a null element."));
            else if (expectedLength is int expected && result[r].Length != expected)
                problems.Add(new DataProblem(path, at, column, $"expected {expected} values, found {result[r].Length}."));
            else if (Array.FindIndex(result[r], v => !float.IsFinite(v)) is int bad and >= 0)
                problems.Add(new DataProblem(path, at, column, $"value {bad} is {result[r][bad]} (NaN or infinite)."));
        }
        return result;
    }

    /// <summary>The vector length most rows share (the shortest of equally common ones), 0 without rows.</summary>
    internal static int MostCommonLength(IEnumerable<float[]> vectors) =>
        vectors.GroupBy(v => v.Length).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => g.Key).FirstOrDefault();

    /// <summary>A flat column must hold a value (or a null) for each of the row group's rows.</summary>
    private static void RequireRows(int found, int rows, string path, DataField field)
    {
        if (found != rows)
            throw new BadInputException($"{path}, column '{field.Path.FirstPart}': {found} values for {rows} rows (the file is damaged or was written inconsistently); rewrite it.");
    }

    internal static async Task<bool[]> ReadBoolsAsync(ParquetRowGroupReader group, DataField field, int rows,
        string path, long rowBase, List<DataProblem> problems, CancellationToken ct)
    {
        string column = field.Path.FirstPart!;
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        if (raw is not RawColumnData<bool> b)
            throw new BadInputException($"{path}, column '{column}': expected booleans, found {field.ClrType.Name}.");
        if (!field.IsNullable)
        {
            RequireRows(b.Values.Length, rows, path, field);
            return b.Values.ToArray();
        }
        var nullable = b.NullableValues.ToArray();
        RequireRows(nullable.Length, rows, path, field);
        var result = new bool[rows];
        for (int r = 0; r < rows; r++)
        {
            if (nullable[r] is bool v) result[r] = v;
            else problems.Add(new DataProblem(path, rowBase + r, column, "the flag is null."));
        }
        return result;
    }

    internal static async Task<string[]> ReadStringsAsync(ParquetRowGroupReader group, DataField field, int rows,
        string path, long rowBase, List<DataProblem> problems, CancellationToken ct)
    {
        string column = field.Path.FirstPart!;
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        if (raw is not RawColumnData<ReadOnlyMemory<char>> s)
            throw new BadInputException($"{path}, column '{column}': expected text, found {field.ClrType.Name}.");
        var result = new string[rows];
        if (!field.IsNullable)
        {
            RequireRows(s.Values.Length, rows, path, field);
            for (int r = 0; r < rows; r++) result[r] = s.Values[r].ToString();
            return result;
        }
        var nullable = s.NullableValues.ToArray();
        RequireRows(nullable.Length, rows, path, field);
        for (int r = 0; r < rows; r++)
        {
            if (nullable[r] is ReadOnlyMemory<char> text) result[r] = text.ToString();
            else
            {
                result[r] = "";
                problems.Add(new DataProblem(path, rowBase + r, column, "the prompt is null."));
            }
        }
        return result;
    }

    private static async Task VerifyImagesAsync(ParquetRowGroupReader group, DataField field, string path, long rowBase,
        DataOptions options, bool required, List<DataProblem> problems, CancellationToken ct)
    {
        var images = await ReadBinaryAsync(group, field, path, ct);
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

    /// <summary>Reads a binary column of one row group as one array per row (null where the value is null).</summary>
    internal static async Task<byte[]?[]> ReadBinaryAsync(ParquetRowGroupReader group, DataField field, string path, CancellationToken ct) =>
        await ReadBinaryAsync(group, field, checked((int)group.RowCount), path, ct);

    /// <summary>Reads a binary column of one row group that should hold <paramref name="rows"/> rows.</summary>
    internal static async Task<byte[]?[]> ReadBinaryAsync(ParquetRowGroupReader group, DataField field, int rows, string path, CancellationToken ct)
    {
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        if (raw is not RawColumnData<ReadOnlyMemory<byte>> b)
            throw new BadInputException($"{path}, column '{field.Path.FirstPart}': expected image bytes, found {field.ClrType.Name}.");
        var result = new byte[]?[rows];
        if (!field.IsNullable)
        {
            RequireRows(b.Values.Length, rows, path, field);
            for (int r = 0; r < rows; r++) result[r] = b.Values[r].ToArray();
            return result;
        }
        var nullable = b.NullableValues.ToArray();
        RequireRows(nullable.Length, rows, path, field);
        for (int r = 0; r < rows; r++) result[r] = nullable[r]?.ToArray();
        return result;
    }
}
