using System.Threading.Tasks.Dataflow;
using Vla.Model;
using Vla.Runtime;

namespace Vla.Data.Loading;

/// <summary>
/// Streams an <see cref="EpisodeDataset"/> as batches: windows in the <see cref="EpochSampler"/>'s order, built by the
/// <see cref="WindowCollator"/> on <see cref="LoaderOptions.NumWorkers"/> threads of a TPL Dataflow block that holds at most
/// <see cref="LoaderOptions.Prefetch"/> batches ahead of the consumer, delivered in order so results never depend on thread
/// timing, and turned into tensors on the consuming thread.
/// </summary>
public sealed class BatchLoader
{
    private readonly EpochSampler _sampler;
    private readonly WindowCollator _collator;
    private readonly PolicyTransform _transform;
    private readonly LoaderOptions _options;

    /// <summary>Creates a loader; the dataset's vectors must match <paramref name="layout"/>.</summary>
    public BatchLoader(EpisodeDataset dataset, Normalizer normalizer, BatchLayout layout, LoaderOptions options)
    {
        if (options.BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), "Batch size must be positive.");
        if (options.WorldSize <= 0 || options.Rank < 0 || options.Rank >= options.WorldSize)
            throw new ArgumentOutOfRangeException(nameof(options), $"Rank {options.Rank} is outside a world of {options.WorldSize}.");
        if (dataset.StateDim != layout.StateDim)
            throw new BadInputException($"{dataset.Files[0]}: state vectors have {dataset.StateDim} values but data.state_dim is {layout.StateDim}.");
        if (dataset.ActionDim != layout.PerActionDim)
            throw new BadInputException($"{dataset.Files[0]}: action vectors have {dataset.ActionDim} values but model.action_head_config.per_action_dim is {layout.PerActionDim}.");
        if (normalizer.Stats.State.Dim != layout.StateDim || normalizer.Stats.Action.Dim != layout.PerActionDim)
            throw new BadInputException($"The normalization stats cover {normalizer.Stats.State.Dim} state and {normalizer.Stats.Action.Dim} action dimensions, but the config has {layout.StateDim} and {layout.PerActionDim}.");
        _options = options;
        _transform = options.Transform ?? PolicyTransform.None;
        _collator = new WindowCollator(dataset, normalizer, layout, _transform, options);
        var windows = dataset.Episodes.SelectMany(e => Enumerable.Range(0, e.Length).Where(t => !dataset.IsBroken(e.Steps[t])).Select(t => new Window(e.Index, t))).ToList();
        _sampler = new EpochSampler(windows, options);
    }

    /// <summary>Every window of the dataset: one per step of every episode (but those of frames found broken when it was opened).</summary>
    public IReadOnlyList<Window> Windows => _sampler.Windows;

    /// <summary>Frames that failed to decode and were masked out under <see cref="LoaderOptions.SkipBadFrames"/>, since this loader was made.</summary>
    public int SkippedFrames => _collator.SkippedFrames;

    /// <summary>The first of <see cref="SkippedFrames"/>, for the log.</summary>
    public DataProblem? FirstSkippedFrame => _collator.FirstSkippedFrame;

    /// <summary>Image arrays waiting to be reused (a test checks the pool stays bounded).</summary>
    internal int SpareImageArrays => _collator.SpareImageArrays;

    /// <summary>The order of all windows in <paramref name="epoch"/> (before sharding).</summary>
    public Window[] EpochOrder(int epoch) => _sampler.EpochOrder(epoch);

    /// <summary>This rank's windows of an epoch, grouped into batches (<see cref="EpochSampler.EpochBatches"/>).</summary>
    public List<Window[]> EpochBatches(int epoch) => _sampler.EpochBatches(epoch);

    /// <summary>Number of batches this rank sees per epoch (the same every epoch).</summary>
    public int BatchesPerEpoch => _sampler.BatchesPerEpoch;

    /// <summary>Builds one batch on the calling thread (<see cref="WindowCollator.Build"/>).</summary>
    public BatchBuffers Build(IReadOnlyList<Window> windows) => _collator.Build(windows);

    /// <summary>Streams the batches of one epoch as tensors, after the first <paramref name="skip"/> (never decoded: a resumed epoch); dispose each after use.</summary>
    public IEnumerable<VlaBatch> Epoch(int epoch, CancellationToken ct = default, int skip = 0)
    {
        _collator.Reserve(Math.Max(1, _options.Prefetch) + 1); // as many as can be in flight: the batches ahead and the one becoming tensors
        foreach (var buffers in EpochBuffers(epoch, ct, skip))
        {
            var batch = VlaBatch.FromBuffers(buffers, _transform, _options.Device); // copies the arrays into tensors
            _collator.Return(buffers);
            yield return batch;
        }
    }

    /// <summary>Streams the batches of one epoch after the first <paramref name="skip"/> as plain arrays (decoding runs ahead on worker threads).</summary>
    public IEnumerable<BatchBuffers> EpochBuffers(int epoch, CancellationToken ct = default, int skip = 0)
    {
        var batches = _sampler.EpochBatches(epoch).Skip(skip).ToList();
        if (_options.NumWorkers == 0)
        {
            foreach (var windows in batches)
            {
                ct.ThrowIfCancellationRequested();
                yield return _collator.Build(windows);
            }
            yield break;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // A batch that fails becomes a faulted task in its place, so the batches before it are still delivered and its
        // error surfaces in order; the block itself never faults.
        var build = new TransformBlock<Window[], Task<BatchBuffers>>(windows =>
        {
            try { return Task.FromResult(_collator.Build(windows)); }
            catch (Exception e) { return Task.FromException<BatchBuffers>(e); }
        }, new ExecutionDataflowBlockOptions
        {
            MaxDegreeOfParallelism = _options.NumWorkers, BoundedCapacity = Math.Max(1, _options.Prefetch), EnsureOrdered = true,
            SingleProducerConstrained = true, CancellationToken = cts.Token,
        });
        // The block is never completed, only cancelled once the consumer is done: a completed block would wait for its
        // output to be taken before it ends, and a consumer that stops early (training.max_steps) leaves some there.
        var feed = Task.Run(async () =>
        {
            foreach (var windows in batches)
                if (!await build.SendAsync(windows, cts.Token)) break;
        }, cts.Token);
        try
        {
            for (int i = 0; i < batches.Count; i++)
                yield return build.Receive(cts.Token).GetAwaiter().GetResult();
        }
        finally
        {
            cts.Cancel();
            try { Task.WaitAll(feed, build.Completion); } catch (AggregateException) { } // cancelled: what was built ahead is dropped
        }
    }
}
