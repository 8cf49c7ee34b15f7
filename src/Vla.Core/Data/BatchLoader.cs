using System.Collections.Concurrent;
using Vla.Model;
using Vla.Runtime;

namespace Vla.Data;

/// <summary>How the loader orders, splits and prefetches windows.</summary>
public sealed record LoaderOptions
{
    /// <summary>Windows per batch on this rank.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Decoding threads; 0 builds each batch on the consuming thread.</summary>
    public int NumWorkers { get; init; } = 2;
    /// <summary>Batches built ahead of the consumer (bounds memory).</summary>
    public int Prefetch { get; init; } = 4;
    /// <summary>Shuffle windows each epoch (with <see cref="Seed"/> + epoch).</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Seed of the per-epoch shuffle.</summary>
    public int Seed { get; init; }
    /// <summary>Drop a last batch smaller than <see cref="BatchSize"/>.</summary>
    public bool DropLast { get; init; }
    /// <summary>This process's rank (distributed runs read a disjoint shard).</summary>
    public int Rank { get; init; }
    /// <summary>Number of ranks sharing each epoch.</summary>
    public int WorldSize { get; init; } = 1;
    /// <summary>Largest decoded image accepted, in pixels.</summary>
    public long MaxImagePixels { get; init; } = 4096L * 4096;
    /// <summary>Where the batches' tensors go (the CPU when null); host buffers are copied there on the consuming thread.</summary>
    public TorchSharp.torch.Device? Device { get; init; }
    /// <summary>The policy's input transform: it tokenizes a batch's instructions on the decoding threads and makes the batch's input; none leaves batches without tokens.</summary>
    public PolicyTransform? Transform { get; init; }
    /// <summary>
    /// Evaluation sharding: rank r takes windows r, r + W, r + 2W, … and nothing is dropped (ranks may get
    /// one window more or less). Training sharding (false) cuts each global batch into equal slices.
    /// </summary>
    public bool StridedShards { get; init; }
    /// <summary>
    /// A frame that cannot be decoded masks its window out of the loss (counted in <see cref="BatchLoader.SkippedFrames"/>)
    /// instead of stopping the run; windows of frames found broken when the data was opened are left out altogether.
    /// </summary>
    public bool SkipBadFrames { get; init; }
}

/// <summary>
/// Streams an <see cref="EpisodeDataset"/> as batches: windows in a per-epoch order that depends only on the
/// seed and the epoch, images decoded by <see cref="LoaderOptions.NumWorkers"/> threads into a bounded queue,
/// batches delivered in order so results never depend on thread timing.
/// </summary>
public sealed class BatchLoader
{
    private readonly EpisodeDataset _dataset;
    private readonly Normalizer _normalizer;
    private readonly BatchLayout _layout;
    private readonly LoaderOptions _options;

    /// <summary>Every window of the dataset: one per step of every episode.</summary>
    public IReadOnlyList<Window> Windows { get; }

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
        _dataset = dataset;
        _normalizer = normalizer;
        _layout = layout;
        _options = options;
        Windows = dataset.Episodes.SelectMany(e => Enumerable.Range(0, e.Length).Where(t => !dataset.IsBroken(e.Steps[t])).Select(t => new Window(e.Index, t))).ToList();
    }

    /// <summary>Frames that failed to decode and were masked out under <see cref="LoaderOptions.SkipBadFrames"/>, since this loader was made.</summary>
    public int SkippedFrames => _skipped;

    /// <summary>The first of <see cref="SkippedFrames"/>, for the log.</summary>
    public DataProblem? FirstSkippedFrame { get; private set; }

    private int _skipped;

    /// <summary>
    /// Image arrays for batches to fill, returned once their batch has become tensors. A batch's images (24 MB at 224 px,
    /// two cameras, 20 windows) are then never allocated while a training step runs inside a <see cref="Runtime.NativeCallGuard"/>,
    /// whose no-collection budget a few of them would use up, and fresh pages are not faulted in for every batch. Each
    /// epoch starts with as many as can be in flight: the batches ahead plus the one being turned into tensors.
    /// </summary>
    private readonly ConcurrentBag<float[]> _spareImages = [];

    /// <summary>Image arrays waiting to be reused (a test checks the pool stays bounded).</summary>
    internal int SpareImageArrays => _spareImages.Count;

    /// <summary>The order of all windows in <paramref name="epoch"/> (before sharding).</summary>
    public Window[] EpochOrder(int epoch)
    {
        var order = Windows.ToArray();
        // A seeded System.Random is stable across runs and platforms (HashCode is not: it is salted per process).
        if (_options.Shuffle) new Random(unchecked(_options.Seed * 1_000_003 + epoch) & int.MaxValue).Shuffle(order);
        return order;
    }

    /// <summary>
    /// This rank's windows of an epoch, grouped into batches: each global batch of
    /// <c>BatchSize × WorldSize</c> windows is cut into contiguous slices, one per rank, as equal as
    /// possible (<see cref="Slice"/>); so the last, smaller global batch is shared too and N ranks see
    /// exactly the batches one process sees. A last global batch with fewer windows than ranks is dropped.
    /// </summary>
    public List<Window[]> EpochBatches(int epoch)
    {
        var order = EpochOrder(epoch);
        if (_options.StridedShards)
            return order.Where((_, i) => i % _options.WorldSize == _options.Rank).Chunk(_options.BatchSize).ToList();
        int global = _options.BatchSize * _options.WorldSize;
        var batches = new List<Window[]>();
        for (int start = 0; start < order.Length; start += global)
        {
            int count = Math.Min(global, order.Length - start);
            if (count < global && _options.DropLast) break;
            if (count < _options.WorldSize) break;
            var (offset, length) = Slice(count, _options.Rank, _options.WorldSize);
            batches.Add(order.AsSpan(start + offset, length).ToArray());
        }
        return batches;
    }

    /// <summary>Rank <paramref name="rank"/>'s contiguous part of <paramref name="count"/> windows: the first <c>count % world</c> ranks take one more.</summary>
    public static (int Offset, int Length) Slice(int count, int rank, int world)
    {
        int size = count / world, extra = count % world;
        return (rank * size + Math.Min(rank, extra), size + (rank < extra ? 1 : 0));
    }

    /// <summary>Number of batches this rank sees per epoch (the same every epoch).</summary>
    public int BatchesPerEpoch => _batchesPerEpoch ??= EpochBatches(0).Count;

    private int? _batchesPerEpoch;

    /// <summary>Streams the batches of one epoch as tensors, after the first <paramref name="skip"/> (never decoded: a resumed epoch); dispose each after use.</summary>
    public IEnumerable<VlaBatch> Epoch(int epoch, CancellationToken ct = default, int skip = 0)
    {
        long imageFloats = (long)_options.BatchSize * _layout.Cameras * _layout.ImageFloats;
        for (int i = _spareImages.Count; i < Math.Max(1, _options.Prefetch) + 1; i++) _spareImages.Add(new float[imageFloats]);
        foreach (var buffers in EpochBuffers(epoch, ct, skip))
        {
            var batch = VlaBatch.FromBuffers(buffers, _options.Transform ?? PolicyTransform.None, _options.Device); // copies the arrays into tensors
            if (buffers.Images.LongLength == imageFloats) _spareImages.Add(buffers.Images); // a smaller last batch's array is not kept
            yield return batch;
        }
    }

    /// <summary>Streams the batches of one epoch after the first <paramref name="skip"/> as plain arrays (decoding runs ahead on worker threads).</summary>
    public IEnumerable<BatchBuffers> EpochBuffers(int epoch, CancellationToken ct = default, int skip = 0)
    {
        var batches = EpochBatches(epoch).Skip(skip).ToList();
        if (_options.NumWorkers == 0)
        {
            foreach (var windows in batches)
            {
                ct.ThrowIfCancellationRequested();
                yield return Build(windows);
            }
            yield break;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var permits = new SemaphoreSlim(Math.Max(1, _options.Prefetch));
        var ready = new ConcurrentDictionary<int, Task<BatchBuffers>>();
        var arrived = new SemaphoreSlim(0);
        int next = -1;
        // A worker takes a permit before it takes a batch number, so the lowest unfinished batch always
        // belongs to a worker that can finish it: the in-order consumer can never wait on a blocked worker.
        var workers = Enumerable.Range(0, _options.NumWorkers).Select(_ => Task.Run(() =>
        {
            while (!cts.IsCancellationRequested)
            {
                permits.Wait(cts.Token);
                int index = Interlocked.Increment(ref next);
                if (index >= batches.Count) { permits.Release(); return; }
                try
                {
                    ready[index] = Task.FromResult(Build(batches[index]));
                }
                catch (Exception e)
                {
                    ready[index] = Task.FromException<BatchBuffers>(e);
                }
                arrived.Release();
            }
        }, cts.Token)).ToArray();

        try
        {
            for (int i = 0; i < batches.Count; i++)
            {
                Task<BatchBuffers>? done;
                while (!ready.TryRemove(i, out done)) arrived.Wait(cts.Token);
                permits.Release();
                yield return done.GetAwaiter().GetResult();
            }
        }
        finally
        {
            cts.Cancel();
            try { Task.WaitAll(workers); } catch (AggregateException) { } // cancelled or already reported
            arrived.Dispose();
        }
    }

    /// <summary>Builds one batch: decodes each window's current frames, tokenizes the prompts, normalizes state and actions, pads and masks.</summary>
    public BatchBuffers Build(IReadOnlyList<Window> windows)
    {
        var l = _layout;
        long imageFloats = (long)windows.Count * l.Cameras * l.ImageFloats;
        float[]? spare = null;
        if (_spareImages.TryTake(out var taken) && taken.LongLength != imageFloats) _spareImages.Add(taken); // a smaller last batch allocates its own
        else spare = taken;
        var b = new BatchBuffers(l, windows.Count, spare);
        for (int i = 0; i < windows.Count; i++)
        {
            var w = windows[i];
            var episode = _dataset.Episodes[w.Episode];
            var current = episode.Steps[w.Step];
            b.Windows[i] = w;
            b.Prompts[i] = current.Prompt;
            bool decoded = true;
            for (int c = 0; c < l.Cameras && decoded; c++)
            {
                long offset = ((long)i * l.Cameras + c) * l.ImageFloats;
                decoded = DecodeInto(episode, w.Step, c + 1, b.Images.AsSpan((int)offset, l.ImageFloats));
            }
            if (!decoded) b.Images.AsSpan(i * l.Cameras * l.ImageFloats, l.Cameras * l.ImageFloats).Clear(); // a reused array holds an older frame

            var state = b.State.AsSpan(i * l.StateDim, l.StateDim);
            current.State.CopyTo(state);
            _normalizer.NormalizeState(state);

            for (int h = 0; h < l.Horizon; h++)
            {
                int step = w.Step + h;
                bool inside = step < episode.Length && decoded; // a skipped frame's window trains nothing
                b.ActionMask[i * l.Horizon + h] = inside;
                if (!inside) continue; // padded steps stay 0 and are masked out of loss and metrics
                var action = b.Actions.AsSpan((i * l.Horizon + h) * l.PerActionDim, l.PerActionDim);
                episode.Steps[step].Action.CopyTo(action);
                _normalizer.NormalizeActions(action);
            }
        }
        b.Tokens = (_options.Transform ?? PolicyTransform.None).EncodePrompts(b.Prompts, b.State);
        return b;
    }

    /// <summary>Decodes one frame into <paramref name="destination"/>; false when it is broken and <see cref="LoaderOptions.SkipBadFrames"/> lets it be skipped.</summary>
    private bool DecodeInto(Episode episode, int step, int camera, Span<float> destination)
    {
        var problem = _dataset.Frames.Preprocess(episode, step, camera, _layout.ImageSize, _options.MaxImagePixels, destination);
        if (problem is null) return true;
        if (!_options.SkipBadFrames) throw new BadInputException(problem.ToString());
        if (Interlocked.Increment(ref _skipped) == 1) FirstSkippedFrame = problem;
        destination.Clear();
        return false;
    }
}
