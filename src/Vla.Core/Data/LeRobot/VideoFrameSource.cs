using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Runtime;

namespace Vla.Data.LeRobot;

/// <summary>
/// Camera frames decoded from a LeRobot dataset's video. Each episode's span of each camera's video is decoded once (on the
/// loader's worker that first needs it), matched to the rows' timestamps, and kept in a cache bounded in bytes
/// (<c>data.video_cache_mb</c>); a row whose nearest frame is further than half a frame period is a problem naming the video,
/// the episode and the row, as LeRobot's timestamp tolerance is.
/// </summary>
public sealed class VideoFrameSource : IFrameSource
{
    /// <summary>One camera's video span for one episode.</summary>
    /// <param name="Path">The video file.</param>
    /// <param name="From">Time of the episode's first frame in the file.</param>
    /// <param name="To">Time just after its last frame.</param>
    public sealed record Clip(string Path, double From, double To);

    /// <summary>An episode's decoded frames for one camera, each row's frame found.</summary>
    private sealed record Matched(DecodedClip Clip, int[] FrameOfStep, DataProblem?[] Problems);

    private readonly Clip[][] _clips;
    private readonly double[][] _timestamps;
    private readonly int[] _episodeIds;
    private readonly int _size;
    private readonly BoundedCache<(int Episode, int Camera), Matched> _cache;

    /// <summary>Half a frame period: the furthest a frame may be from its row.</summary>
    public double Tolerance { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> Cameras { get; }

    /// <summary>
    /// A source over <paramref name="clips"/>[episode][camera − 1] with each episode's row timestamps (seconds from its start),
    /// decoding to <paramref name="size"/>² and keeping up to <paramref name="cacheBytes"/> of frames.
    /// </summary>
    public VideoFrameSource(IReadOnlyList<string> cameras, Clip[][] clips, double[][] timestamps, int[] episodeIds, double fps, int size, long cacheBytes)
    {
        Cameras = cameras;
        _clips = clips;
        _timestamps = timestamps;
        _episodeIds = episodeIds;
        _size = size;
        Tolerance = 0.5 / fps;
        _cache = new BoundedCache<(int, int), Matched>(cacheBytes, m => m.Clip.Pixels.LongLength + 16L * m.FrameOfStep.Length);
    }

    /// <summary>Bytes of decoded frames held now.</summary>
    public long CachedBytes => _cache.CachedBytes;

    /// <inheritdoc/>
    public DataProblem? Preprocess(Episode episode, int step, int camera, int size, long maxPixels, Span<float> chw)
    {
        var matched = Get(episode.Index, camera);
        if (matched.Problems[step] is { } problem) return problem;
        var clip = matched.Clip;
        var pixels = clip.Pixels.AsSpan(matched.FrameOfStep[step] * clip.FrameBytes, clip.FrameBytes);
        if (size == clip.Size) WriteChw(pixels, size, chw);
        else
        {
            using var image = Image.LoadPixelData<Rgb24>(pixels, clip.Size, clip.Size);
            ImagePreprocessor.Resize(image, size);
            ImagePreprocessor.WriteChw(image, chw);
        }
        return null;
    }

    /// <inheritdoc/>
    public Image<Rgb24>? Load(Episode episode, int step, int camera, long maxPixels)
    {
        var matched = Get(episode.Index, camera);
        if (matched.Problems[step] is { } problem) throw new InvalidDataException(problem.Message);
        var clip = matched.Clip;
        return Image.LoadPixelData<Rgb24>(clip.Pixels.AsSpan(matched.FrameOfStep[step] * clip.FrameBytes, clip.FrameBytes), clip.Size, clip.Size);
    }

    /// <summary>Decodes every frame of <paramref name="episode"/>'s cameras and returns the rows without a frame (<c>vla inspect</c>).</summary>
    public IEnumerable<DataProblem> Check(Episode episode)
    {
        for (int camera = 1; camera <= Cameras.Count; camera++)
            foreach (var problem in Get(episode.Index, camera).Problems)
                if (problem is not null) yield return problem;
    }

    private Matched Get(int episode, int camera) =>
        _cache.Get((episode, camera), key => MatchAsync(key.Episode, key.Camera));

    private async Task<Matched> MatchAsync(int episode, int camera)
    {
        var span = _clips[episode][camera - 1];
        var clip = await VideoDecoder.DecodeAsync(span.Path, span.From, span.To, Tolerance, _size);
        var times = _timestamps[episode];
        var frames = new int[times.Length];
        var problems = new DataProblem?[times.Length];
        string key = Cameras[camera - 1];
        for (int t = 0; t < times.Length; t++)
        {
            double query = span.From + times[t];
            var (frame, distance) = clip.Nearest(query);
            frames[t] = Math.Max(frame, 0);
            if (distance <= Tolerance + 1e-6) continue;
            string where = $"episode {_episodeIds[episode]}, row {t} (timestamp {times[t]:0.####} s)";
            problems[t] = new DataProblem(span.Path, null, key, clip.Times.Length == 0
                ? $"{where}: the video holds no frames in [{span.From:0.###}, {span.To:0.###}) s."
                : query > clip.Times[^1]
                    ? $"{where}: the video ends at {clip.Times[^1] - span.From:0.###} s of the episode, so it has fewer frames ({clip.Times.Length}) than the episode has rows ({times.Length})."
                    : $"{where}: the nearest frame is {distance:0.####} s away, more than half a frame period ({Tolerance:0.####} s); the video and the Parquet timestamps do not match.");
        }
        return new Matched(clip, frames, problems);
    }

    /// <summary>Writes RGB24 pixels as (value / 255 − 0.5) / 0.5 in channel-first order.</summary>
    private static void WriteChw(ReadOnlySpan<byte> rgb, int size, Span<float> chw)
    {
        int plane = size * size;
        if (chw.Length != 3 * plane) throw new ArgumentException($"Destination holds {chw.Length} floats, expected {3 * plane}.", nameof(chw));
        const float scale = 2f / 255f;
        for (int p = 0; p < plane; p++)
        {
            chw[p] = rgb[3 * p] * scale - 1f;
            chw[plane + p] = rgb[3 * p + 1] * scale - 1f;
            chw[2 * plane + p] = rgb[3 * p + 2] * scale - 1f;
        }
    }
}
