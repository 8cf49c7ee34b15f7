using Parquet;
using Parquet.Data;
using Parquet.Schema;
using Vla.Runtime;

namespace Vla.Data.LeRobot;

/// <summary>Reads the scalar and list columns LeRobot writes (indices, timestamps, task lists) through Parquet.Net's raw column API.</summary>
internal static class ParquetColumns
{
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
