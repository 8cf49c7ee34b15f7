using System.Diagnostics;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Formatting;
using Vla.Training;

namespace Vla.Kernel;

/// <summary>Shows a <see cref="TrainingHistory"/> in the running cell and redraws it while training fills it.</summary>
public static class TrainingHistoryDisplay
{
    /// <summary>
    /// Displays <paramref name="history"/> now and updates the same output at most every
    /// <paramref name="interval"/> (2 s by default) as it changes, and once more when disposed.
    /// </summary>
    public static IDisposable DisplayLive(this TrainingHistory history, TimeSpan? interval = null)
    {
        var context = KernelInvocationContext.Current
            ?? throw new InvalidOperationException("DisplayLive needs a running notebook cell (no kernel invocation context).");
        return new LiveView(history, context.Display(history, HtmlFormatter.MimeType), interval ?? TimeSpan.FromSeconds(2));
    }

    private sealed class LiveView : IDisposable
    {
        private readonly TrainingHistory _history;
        private readonly DisplayedValue _view;
        private readonly TimeSpan _interval;
        private readonly Stopwatch _sinceUpdate = Stopwatch.StartNew();
        private readonly Lock _gate = new();

        public LiveView(TrainingHistory history, DisplayedValue view, TimeSpan interval)
        {
            _history = history;
            _view = view;
            _interval = interval;
            history.Changed += OnChanged;
        }

        private void OnChanged(TrainingHistory history)
        {
            lock (_gate)
            {
                if (_sinceUpdate.Elapsed < _interval) return;
                try
                {
                    _view.Update(history);
                }
                catch (Exception)
                {
                    // This runs on the trainer's thread: a chart that cannot redraw (closed cell, host gone) must not
                    // stop training. Stop redrawing; Dispose draws the final state, where a failure surfaces in the cell.
                    _history.Changed -= OnChanged;
                }
                _sinceUpdate.Restart();
            }
        }

        public void Dispose()
        {
            _history.Changed -= OnChanged;
            lock (_gate) _view.Update(_history);
        }
    }
}
