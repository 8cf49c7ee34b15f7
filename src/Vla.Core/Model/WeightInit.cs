namespace Vla.Model;

/// <summary>
/// Whether the backbone's layers built on this thread draw initial values. Loading a Hugging Face folder or a
/// checkpoint overwrites every weight, and drawing PaliGemma-3B's 2.9 B random numbers first took most of a
/// 100 s load on this project's 2-core benchmark host; inside <see cref="Skip"/> the projections and the token
/// embedding (all but 0.3 % of the weights) allocate their weights uninitialized instead. Thread-local: a model built on another
/// thread meanwhile is unaffected.
/// </summary>
public static class WeightInit
{
    [ThreadStatic] private static int t_skipping;

    /// <summary>True inside <see cref="Skip"/> on this thread.</summary>
    public static bool Skipping => t_skipping > 0;

    /// <summary>Until disposed, layers built on this thread leave their weights uninitialized (they are about to be loaded).</summary>
    public static IDisposable Skip()
    {
        t_skipping++;
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            t_skipping--;
        }
    }
}
