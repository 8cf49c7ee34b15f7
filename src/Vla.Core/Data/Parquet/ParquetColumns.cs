using Parquet;
using Parquet.Data;
using Parquet.Schema;
using Vla.Runtime;

namespace Vla.Data.Parquet;

/// <summary>
/// Reads Parquet columns through Parquet.Net's raw column API, checking every value: float vectors, flags, text, image
/// bytes, numbers and text lists, as pyarrow (LeRobot) and Parquet.Net write them. Problems with a row name the file,
/// the row and the column; a file whose levels disagree with its values is refused whole.
/// </summary>
public static class ParquetColumns
{
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

    /// <summary>
    /// Splits a <c>list&lt;float&gt;</c> (or <c>list&lt;double&gt;</c>) column into one vector per row: a repetition
    /// level of 0 opens a row; only fully defined levels carry a value (<c>Values</c> is dense). Rows whose length
    /// differs from <paramref name="expectedLength"/> are problems; without one, the caller judges lengths over the file.
    /// </summary>
    public static async Task<float[][]> ReadVectorsAsync(ParquetRowGroupReader group, DataField field, int rows, int? expectedLength,
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
    public static int MostCommonLength(IEnumerable<float[]> vectors) =>
        vectors.GroupBy(v => v.Length).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => g.Key).FirstOrDefault();

    /// <summary>A flat column must hold a value (or a null) for each of the row group's rows.</summary>
    private static void RequireRows(int found, int rows, string path, DataField field)
    {
        if (found != rows)
            throw new BadInputException($"{path}, column '{field.Path.FirstPart}': {found} values for {rows} rows (the file is damaged or was written inconsistently); rewrite it.");
    }

    /// <summary>A flag column of one row group; a null flag is a problem naming its row.</summary>
    public static async Task<bool[]> ReadBoolsAsync(ParquetRowGroupReader group, DataField field, int rows,
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

    /// <summary>A text column of one row group; a null is a problem naming its row (and reads as "").</summary>
    public static async Task<string[]> ReadStringsAsync(ParquetRowGroupReader group, DataField field, int rows,
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

    /// <summary>Reads a binary column of one row group as one array per row (null where the value is null).</summary>
    public static async Task<byte[]?[]> ReadBinaryAsync(ParquetRowGroupReader group, DataField field, string path, CancellationToken ct) =>
        await ReadBinaryAsync(group, field, checked((int)group.RowCount), path, ct);

    /// <summary>Reads a binary column of one row group that should hold <paramref name="rows"/> rows.</summary>
    public static async Task<byte[]?[]> ReadBinaryAsync(ParquetRowGroupReader group, DataField field, int rows, string path, CancellationToken ct)
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

    /// <summary>A numeric scalar column (any integer or floating type) as doubles; a null or a list column is an error naming the file and column.</summary>
    public static async Task<double[]> ReadNumbersAsync(ParquetRowGroupReader group, DataField field, string path, CancellationToken ct)
    {
        int rows = checked((int)group.RowCount);
        string column = field.Path.FirstPart!;
        if (field.MaxRepetitionLevel > 0) throw new BadInputException($"{path}, column '{column}': expected one number per row, found a list.");
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        double[] values = raw switch
        {
            RawColumnData<long> l => Dense(l, field, v => v),
            RawColumnData<int> i => Dense(i, field, v => v),
            RawColumnData<double> d => Dense(d, field, v => v),
            RawColumnData<float> f => Dense(f, field, v => v),
            _ => throw new BadInputException($"{path}, column '{column}': expected numbers, found {field.ClrType.Name}."),
        };
        if (values.Length != rows)
            throw new BadInputException($"{path}, column '{column}': {values.Length} values for {rows} rows (the file is damaged or was written inconsistently).");
        if (Array.FindIndex(values, v => !double.IsFinite(v)) is int bad and >= 0)
            throw new BadInputException($"{path}, row {bad} of its row group, column '{column}': the value is null, NaN or infinite.");
        return values;
    }

    /// <summary>The values with NaN for nulls (a nullable column's values are dense: only defined levels carry one).</summary>
    private static double[] Dense<T>(RawColumnData<T> raw, DataField field, Func<T, double> convert) where T : struct =>
        field.IsNullable ? raw.NullableValues.Select(v => v is T x ? convert(x) : double.NaN).ToArray() : Array.ConvertAll(raw.Values.ToArray(), v => convert(v));

    /// <summary>A <c>list&lt;string&gt;</c> column (LeRobot's <c>tasks</c>) as one array per row.</summary>
    public static async Task<string[][]> ReadStringListsAsync(ParquetRowGroupReader group, DataField field, string path, CancellationToken ct)
    {
        int rows = checked((int)group.RowCount);
        using var raw = await group.ReadRawColumnDataBaseAsync(field, ct);
        if (raw is not RawColumnData<ReadOnlyMemory<char>> s)
            throw new BadInputException($"{path}, column '{field.Path.FirstPart}': expected text, found {field.ClrType.Name}.");
        if (field.MaxRepetitionLevel == 0)
            return (field.IsNullable ? s.NullableValues.ToArray().Select(v => v is { } t ? new[] { t.ToString() } : []).ToArray()
                : s.Values.ToArray().Select(v => new[] { v.ToString() }).ToArray());
        var values = s.Values.ToArray();
        var result = new List<string[]>();
        var current = new List<string>();
        int next = 0;
        for (int i = 0; i < raw.RepetitionLevels.Length; i++)
        {
            if (raw.RepetitionLevels[i] == 0 && i > 0) { result.Add([.. current]); current.Clear(); }
            if (raw.DefinitionLevels[i] == field.MaxDefinitionLevel && next < values.Length) current.Add(values[next++].ToString());
        }
        if (raw.RepetitionLevels.Length > 0) result.Add([.. current]);
        if (result.Count != rows) throw new BadInputException($"{path}, column '{field.Path.FirstPart}': {result.Count} lists for {rows} rows (the file is damaged).");
        return [.. result];
    }
}
