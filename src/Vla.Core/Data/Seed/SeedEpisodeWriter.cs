using Parquet;
using Parquet.Schema;
using Vla.Runtime;

namespace Vla.Data.Seed;

/// <summary>
/// Writes episodes in the workbench's Parquet layout (one row per step, one row group per episode):
/// <c>image_1</c>, <c>image_2</c>, <c>state</c>, <c>action</c>, <c>is_first</c>, <c>is_last</c>,
/// <c>is_terminal</c>, <c>prompt</c>. The file appears only when complete (written aside, then renamed).
/// </summary>
public static class SeedEpisodeWriter
{
    /// <summary>Writes <paramref name="episodes"/> to <paramref name="path"/>; columns named in <paramref name="omit"/> are left out (for tests of bad files).</summary>
    public static async Task WriteAsync(string path, IEnumerable<IReadOnlyList<StepRow>> episodes,
        IReadOnlySet<string>? omit = null, CancellationToken ct = default)
    {
        omit ??= new HashSet<string>();
        var image1 = new DataField<byte[]>("image_1");
        var image2 = new DataField<byte[]>("image_2");
        var state = new DataField<float>("element");
        var action = new DataField<float>("element");
        var isFirst = new DataField<bool>("is_first");
        var isLast = new DataField<bool>("is_last");
        var isTerminal = new DataField<bool>("is_terminal");
        var prompt = new DataField<string>("prompt");
        var all = new (string Name, Field Field)[]
        {
            ("image_1", image1), ("image_2", image2),
            ("state", new ListField("state", state)), ("action", new ListField("action", action)),
            ("is_first", isFirst), ("is_last", isLast), ("is_terminal", isTerminal), ("prompt", prompt),
        };
        var schema = new ParquetSchema(all.Where(c => !omit.Contains(c.Name)).Select(c => c.Field));

        await AtomicFile.WriteAsync(path, async stream =>
        {
            await using (var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: ct))
            {
                foreach (var episode in episodes)
                {
                    using var group = writer.CreateRowGroup();
                    if (!omit.Contains("image_1")) await group.WriteAsync(image1, episode.Select(s => s.Image1).ToList());
                    if (!omit.Contains("image_2")) await group.WriteAsync(image2, episode.Select(s => s.Image2 ?? []).ToList());
                    if (!omit.Contains("state")) await WriteListAsync(group, state, episode.Select(s => s.State), ct);
                    if (!omit.Contains("action")) await WriteListAsync(group, action, episode.Select(s => s.Action), ct);
                    if (!omit.Contains("is_first")) await group.WriteAsync<bool>(isFirst, episode.Select(s => s.IsFirst).ToArray());
                    if (!omit.Contains("is_last")) await group.WriteAsync<bool>(isLast, episode.Select(s => s.IsLast).ToArray());
                    if (!omit.Contains("is_terminal")) await group.WriteAsync<bool>(isTerminal, episode.Select(s => s.IsTerminal).ToArray());
                    if (!omit.Contains("prompt")) await group.WriteAsync(prompt, episode.Select(s => s.Prompt).ToList());
                }
            }
        });
    }

    /// <summary>
    /// A list column: repetition level 0 opens each row's list, 1 continues it; an empty list is one
    /// entry defined one level short of a value.
    /// </summary>
    internal static Task WriteListAsync(ParquetRowGroupWriter group, DataField element, IEnumerable<float[]> rows, CancellationToken ct)
    {
        var values = new List<float>();
        var repetition = new List<int>();
        var definition = new List<int>();
        foreach (var row in rows)
        {
            if (row.Length == 0)
            {
                repetition.Add(0);
                definition.Add(element.MaxDefinitionLevel - 1);
            }
            for (int i = 0; i < row.Length; i++)
            {
                values.Add(row[i]);
                repetition.Add(i == 0 ? 0 : 1);
                definition.Add(element.MaxDefinitionLevel);
            }
        }
        return group.WriteAllPartsAsync<float>(element, values.ToArray(), definition.ToArray(), repetition.ToArray(), ct);
    }
}
