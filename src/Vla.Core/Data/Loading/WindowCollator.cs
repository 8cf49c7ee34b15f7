using System.Collections.Concurrent;
using Vla.Model;
using Vla.Runtime;

namespace Vla.Data.Loading;

/// <summary>
/// Turns windows of a dataset into a batch's host arrays, on the loader's workers: each window's current frame of every
/// camera decoded and resized, its state and target chunk normalized, padded steps masked (and left zero), and the
/// prompts tokenized by the policy's transform. Image arrays are reused from batch to batch (see <see cref="Return"/>).
/// </summary>
public sealed class WindowCollator(EpisodeDataset dataset, Normalizer normalizer, BatchLayout layout, PolicyTransform transform, LoaderOptions options)
{
    /// <summary>
    /// Image arrays for batches to fill, returned once their batch has become tensors. A batch's images (24 MB at 224 px,
    /// two cameras, 20 windows) are then never allocated while a training step runs inside a <see cref="NativeCallGuard"/>,
    /// whose no-collection budget a few of them would use up, and fresh pages are not faulted in for every batch. Only
    /// arrays of exactly a full batch's size are kept, and every image of a reused array is written or cleared, so no
    /// older frame survives in a newer batch.
    /// </summary>
    private readonly ConcurrentBag<float[]> _spareImages = [];
    private int _skipped;

    /// <summary>Floats in the images of a full batch.</summary>
    public long FullBatchImageFloats => (long)options.BatchSize * layout.Cameras * layout.ImageFloats;

    /// <summary>Image arrays waiting to be reused (a test checks the pool stays bounded).</summary>
    internal int SpareImageArrays => _spareImages.Count;

    /// <summary>Frames that failed to decode and were masked out under <see cref="LoaderOptions.SkipBadFrames"/>.</summary>
    public int SkippedFrames => _skipped;

    /// <summary>The first of <see cref="SkippedFrames"/>, for the log.</summary>
    public DataProblem? FirstSkippedFrame { get; private set; }

    /// <summary>Makes sure <paramref name="count"/> full-size image arrays wait to be reused.</summary>
    public void Reserve(int count)
    {
        for (int i = _spareImages.Count; i < count; i++) _spareImages.Add(new float[FullBatchImageFloats]);
    }

    /// <summary>Hands a batch's image array back for reuse once its batch became tensors (a smaller last batch's is not kept).</summary>
    public void Return(BatchBuffers buffers)
    {
        if (buffers.Images.LongLength == FullBatchImageFloats) _spareImages.Add(buffers.Images);
    }

    /// <summary>Builds one batch: decodes each window's current frames, normalizes state and actions, pads and masks, tokenizes the prompts.</summary>
    public BatchBuffers Build(IReadOnlyList<Window> windows)
    {
        var l = layout;
        long imageFloats = (long)windows.Count * l.Cameras * l.ImageFloats;
        float[]? spare = null;
        if (_spareImages.TryTake(out var taken) && taken.LongLength != imageFloats) _spareImages.Add(taken); // a smaller last batch allocates its own
        else spare = taken;
        var b = new BatchBuffers(l, windows.Count, spare);
        for (int i = 0; i < windows.Count; i++)
        {
            var w = windows[i];
            var episode = dataset.Episodes[w.Episode];
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
            normalizer.NormalizeState(state);

            for (int h = 0; h < l.Horizon; h++)
            {
                int step = w.Step + h;
                bool inside = step < episode.Length && decoded; // a skipped frame's window trains nothing
                b.ActionMask[i * l.Horizon + h] = inside;
                if (!inside) continue; // padded steps stay 0 and are masked out of loss and metrics
                var action = b.Actions.AsSpan((i * l.Horizon + h) * l.PerActionDim, l.PerActionDim);
                episode.Steps[step].Action.CopyTo(action);
                normalizer.NormalizeActions(action);
            }
        }
        b.Tokens = transform.EncodePrompts(b.Prompts, b.State);
        return b;
    }

    /// <summary>Decodes one frame into <paramref name="destination"/>; false when it is broken and <see cref="LoaderOptions.SkipBadFrames"/> lets it be skipped.</summary>
    private bool DecodeInto(Episode episode, int step, int camera, Span<float> destination)
    {
        var problem = dataset.Frames.Preprocess(episode, step, camera, layout.ImageSize, options.MaxImagePixels, destination, layout.Fit);
        if (problem is null) return true;
        if (!options.SkipBadFrames) throw new BadInputException(problem.ToString());
        if (Interlocked.Increment(ref _skipped) == 1) FirstSkippedFrame = problem;
        destination.Clear();
        return false;
    }
}
