using System.Globalization;
using Vla.Runtime;

namespace Vla.Config;

/// <summary>
/// Which episodes a command uses: indices and <c>start:stop</c> ranges (stop excluded, as Python slices and LeRobot's
/// <c>splits</c>), from <c>data.train_episodes</c>, <c>data.val_episodes</c> or <c>DataOptions.Episodes</c>. LeRobot datasets are
/// selected by their <c>episode_index</c>; seed-schema data by position (the first episode is 0).
/// </summary>
public sealed class EpisodeSelection
{
    private readonly List<(int Start, int Stop)> _ranges;
    private readonly string _text;

    private readonly bool _except;

    private EpisodeSelection(List<(int, int)> ranges, string text, string key, bool except = false)
    {
        _ranges = ranges;
        _text = text;
        Key = key;
        _except = except;
    }

    /// <summary>Every episode but those of <paramref name="other"/> (training when only validation episodes are named on one root).</summary>
    public static EpisodeSelection AllBut(EpisodeSelection other, string key) => new(other._ranges, $"all but {other._text}", key, except: true);

    /// <summary>An episode both selections contain, or null (an episode in training and validation at once).</summary>
    public int? Overlap(EpisodeSelection other)
    {
        if (_except || other._except) return null;
        foreach (var a in _ranges)
            foreach (var b in other._ranges)
                if (a.Start < b.Stop && b.Start < a.Stop) return Math.Max(a.Start, b.Start);
        return null;
    }

    /// <summary>The setting it came from (<c>data.train_episodes</c>, or what the caller names), for messages.</summary>
    public string Key { get; }

    /// <summary>
    /// Parses items such as <c>41</c>, <c>41:44</c>, <c>:10</c>, <c>90:</c> or <c>1,2,5</c>; null when there are none (every episode).
    /// <paramref name="key"/> names the setting in errors.
    /// </summary>
    public static EpisodeSelection? Parse(IEnumerable<string> items, string key)
    {
        var ranges = new List<(int, int)>();
        var parts = items.SelectMany(i => i.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        foreach (var part in parts)
        {
            int colon = part.IndexOf(':');
            if (colon < 0)
            {
                int index = Index(part, part, key);
                ranges.Add((index, index + 1));
                continue;
            }
            string from = part[..colon].Trim(), to = part[(colon + 1)..].Trim();
            int start = from.Length == 0 ? 0 : Index(from, part, key);
            int stop = to.Length == 0 ? int.MaxValue : Index(to, part, key);
            if (stop <= start) throw new BadInputException($"{key}: '{part}' selects no episode (the stop index is excluded, so it must be above the start).");
            ranges.Add((start, stop));
        }
        return ranges.Count == 0 ? null : new EpisodeSelection(ranges, string.Join(",", parts), key);
    }

    private static int Index(string text, string part, string key) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            ? index
            : throw new BadInputException($"{key}: '{part}' is not an episode index or a start:stop range (e.g. 3, 0:40, 40:).");

    /// <summary>True when episode <paramref name="index"/> is selected.</summary>
    public bool Contains(int index) => _ranges.Any(r => index >= r.Start && index < r.Stop) != _except;

    /// <summary>The selected indices below <paramref name="limit"/>, in order.</summary>
    public IEnumerable<int> Indices(int limit) => Enumerable.Range(0, Math.Max(0, limit)).Where(Contains);

    /// <summary>The single indices named (<c>41</c>, not a range), which must exist.</summary>
    public IEnumerable<int> Singles => _except ? [] : _ranges.Where(r => r.Stop == r.Start + 1).Select(r => r.Start);

    /// <summary>The selection as it was written (<c>41:43,45</c>).</summary>
    public override string ToString() => _text;
}
