using System.Diagnostics;
using System.Threading.Channels;
using Vla.Inference;
using Vla.Runtime;

namespace Vla.Server;

/// <summary>
/// Micro-batching on the one thread that runs the model. Requests that arrive within the batch window of the first waiting one are
/// predicted together in one <see cref="VlaPredictor.PredictBatch"/> call (up to the largest batch); the wait ends
/// early once every open connection has a request queued, since each connection has at most one in flight. A zero window
/// predicts each request alone. A batch that fails on bad input is re-run request by request, so only the faulty request fails.
/// </summary>
public sealed class MicroBatcher : IAsyncDisposable
{
    private readonly VlaPredictor _predictor;
    private readonly int? _steps;
    private readonly int _maxBatch;
    private readonly TimeSpan _window;
    private readonly Func<int> _connections;
    private readonly Channel<Pending> _channel = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _worker;
    private long _batches, _requests;

    private sealed record Pending(PolicyRequest Request, TaskCompletionSource<InferenceResult> Done);

    /// <param name="predictor">The policy.</param>
    /// <param name="steps">Euler steps (null: the checkpoint's).</param>
    /// <param name="maxBatch">Most requests per model call.</param>
    /// <param name="window">How long the first request waits for company; zero turns batching off.</param>
    /// <param name="connections">Open connections now (the most requests that can be waiting).</param>
    public MicroBatcher(VlaPredictor predictor, int? steps, int maxBatch, TimeSpan window, Func<int> connections)
    {
        if (maxBatch < 1) throw new BadInputException($"ServerOptions.MaxBatch is {maxBatch}; it must be at least 1.");
        if (window < TimeSpan.Zero) throw new BadInputException("ServerOptions.BatchWindowMs must not be negative.");
        (_predictor, _steps, _maxBatch, _window, _connections) = (predictor, steps, maxBatch, window, connections);
        _worker = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Model calls so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests answered so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Queues <paramref name="request"/>; completes when its chunk is ready, or faults with the request's own error.</summary>
    public Task<InferenceResult> PredictAsync(PolicyRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<InferenceResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_channel.Writer.TryWrite(pending)) throw new InvalidOperationException("The server is shutting down.");
        return pending.Done.Task;
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        int limit = _window > TimeSpan.Zero ? _maxBatch : 1;   // a zero window predicts each request alone, in arrival order
        var batch = new List<Pending>(limit);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < limit && reader.TryRead(out var first)) batch.Add(first);
            var waited = Stopwatch.StartNew();
            while (batch.Count < limit && batch.Count < _connections() && waited.Elapsed < _window)
            {
                using var timeout = new CancellationTokenSource(_window - waited.Elapsed);
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                while (batch.Count < limit && reader.TryRead(out var next)) batch.Add(next);
            }
            Run(batch);
        }
    }

    private void Run(IReadOnlyList<Pending> batch)
    {
        try
        {
            var clock = Stopwatch.StartNew();
            var chunks = _predictor.PredictBatch(batch.Select(p => p.Request.Observation).ToList(), _steps, seed: null,
                batch.Any(p => p.Request.Rtc is not null) ? batch.Select(p => p.Request.Rtc).ToList() : null);
            double ms = clock.Elapsed.TotalMilliseconds;
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _requests, batch.Count);
            for (int i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(new InferenceResult(chunks[i], ms, batch.Count));
        }
        catch (Exception e) when (batch.Count > 1 && e is BadInputException)
        {
            foreach (var one in batch) Run([one]);   // find the faulty request; the others still get their chunks
        }
        catch (Exception e)
        {
            foreach (var one in batch) one.Done.TrySetException(e);
        }
    }

    /// <summary>Stops taking requests and finishes the queued ones.</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }
}
