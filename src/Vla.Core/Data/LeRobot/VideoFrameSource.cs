using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Config;
using Vla.Runtime;

namespace Vla.Data.LeRobot;

/// <summary>
/// Camera frames decoded from a LeRobot dataset's video. An episode's frames are decoded in segments of
/// <see cref="SegmentRows"/> rows (one ffmpeg run each, seeking to the segment: LeRobot encodes a keyframe every few frames), on the
/// loader's worker that first needs one, matched to the rows' timestamps, and kept in a cache bounded in bytes
/// (<c>data.video_cache_mb</c>). A dataset larger than the cache thus costs one segment per miss, not a whole episode. A row whose
/// nearest frame is further than half a frame period is a problem naming the video, the episode and the row, as LeRobot's
/// timestamp tolerance is.
/// </summary>
public sealed class VideoFrameSource : IFrameSource
{
    /// <summary>One camera's video span for one episode.</summary>
    /// <param name="Path">The video file.</param>
    /// <param name="From">Time of the episode's first frame in the file.</param>
    /// <param name="To">Time just after its last frame.</param>
    public sealed record Clip(string Path, double From, double To);

    /// <summary>A segment's decoded frames for one camera, each of its rows' frame found (indexed from the segment's first row).</summary>
    private sealed record Matched(DecodedClip Clip, int[] FrameOfStep, DataProblem?[] Problems);

    /// <summary>Rows decoded per ffmpeg run: long enough that starting ffmpeg costs little (about a tenth), short enough that a cache miss stays cheap.</summary>
    public const int SegmentRows = 128;

    private readonly Clip[][] _clips;
    private readonly double[][] _timestamps;
    private readonly int[] _episodeIds;
    private readonly int _size;
    private readonly ImageFit _fit;
    private readonly double _fps;
    private readonly BoundedCache<(int Episode, int Camera, int Segment), Matched> _cache;

    /// <summary>Half a frame period: the furthest a frame may be from its row.</summary>
    public double Tolerance { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> Cameras { get; }

    /// <summary>
    /// A source over <paramref name="clips"/>[episode][camera − 1] with each episode's row timestamps (seconds from its start),
    /// decoding to <paramref name="size"/>² (made square as <paramref name="fit"/> says) and keeping up to <paramref name="cacheBytes"/> of frames.
    /// </summary>
    public VideoFrameSource(IReadOnlyList<string> cameras, Clip[][] clips, double[][] timestamps, int[] episodeIds, double fps, int size, long cacheBytes,
                            ImageFit fit = ImageFit.Stretch)
    {
        _fit = fit;
        Cameras = cameras;
        _clips = clips;
        _timestamps = timestamps;
        _episodeIds = episodeIds;
        _size = size;
        _fps = fps;
        Tolerance = 0.5 / fps;
        _cache = new BoundedCache<(int, int, int), Matched>(cacheBytes, m => m.Clip.Pixels.LongLength + 16L * m.FrameOfStep.Length);
    }

    /// <summary>Bytes of decoded frames held now.</summary>
    public long CachedBytes => _cache.CachedBytes;

    /// <inheritdoc/>
    /// <remarks>Frames are decoded square as the source was built to (<paramref name="fit"/> applies to the decoded square only when another size is asked).</remarks>
    public DataProblem? Preprocess(Episode episode, int step, int camera, int size, long maxPixels, Span<float> chw, ImageFit fit = ImageFit.Stretch)
    {
        var (matched, row) = Get(episode.Index, step, camera);
        if (matched.Problems[row] is { } problem) return problem;
        var clip = matched.Clip;
        var pixels = clip.Pixels.AsSpan(matched.FrameOfStep[row] * clip.FrameBytes, clip.FrameBytes);
        if (size == clip.Size) ImagePreprocessor.WriteChw(MemoryMarshal.Cast<byte, Rgb24>(pixels), chw);
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
        var (matched, row) = Get(episode.Index, step, camera);
        if (matched.Problems[row] is { } problem) throw new InvalidDataException(problem.Message);
        var clip = matched.Clip;
        return Image.LoadPixelData<Rgb24>(clip.Pixels.AsSpan(matched.FrameOfStep[row] * clip.FrameBytes, clip.FrameBytes), clip.Size, clip.Size);
    }

    /// <summary>Decodes every frame of <paramref name="episode"/>'s cameras and returns the rows without a frame (<c>vla inspect</c>).</summary>
    public IEnumerable<DataProblem> Check(Episode episode)
    {
        for (int camera = 1; camera <= Cameras.Count; camera++)
            for (int first = 0; first < episode.Length; first += SegmentRows)
                foreach (var problem in Get(episode.Index, first, camera).Segment.Problems)
                    if (problem is not null) yield return problem;
    }

    private (Matched Segment, int Row) Get(int episode, int step, int camera) =>
        (_cache.Get((episode, camera, step / SegmentRows), key => MatchAsync(key.Episode, key.Camera, key.Segment)), step % SegmentRows);

    private async Task<Matched> MatchAsync(int episode, int camera, int segment)
    {
        var span = _clips[episode][camera - 1];
        var all = _timestamps[episode];
        int first = segment * SegmentRows, count = Math.Min(SegmentRows, all.Length - first);
        var times = all.AsSpan(first, count).ToArray();
        var clip = await VideoDecoder.DecodeAsync(span.Path, span.From + times[0], span.From + times[^1] + 1 / _fps, _fps, _size, _fit);
        var frames = new int[count];
        var problems = new DataProblem?[count];
        string key = Cameras[camera - 1];
        for (int i = 0; i < count; i++)
        {
            double query = span.From + times[i];
            var (frame, distance) = clip.Nearest(query);
            frames[i] = Math.Max(frame, 0);
            if (distance <= Tolerance + 1e-6) continue;
            string where = $"episode {_episodeIds[episode]}, row {first + i} (timestamp {times[i]:0.####} s)";
            problems[i] = new DataProblem(span.Path, null, key,
                query > (clip.Times.Length > 0 ? clip.Times[^1] : span.From) + Tolerance
                    ? $"{where}: the video has no frame there; it ends before the episode's {all.Length} rows do" +
                      (clip.Times.Length > 0 ? $" (its last frame is at {clip.Times[^1] - span.From:0.###} s of the episode, frame {(int)Math.Round((clip.Times[^1] - span.From) * _fps) + 1})." : ".")
                    : $"{where}: the nearest frame is {distance:0.####} s away, more than half a frame period ({Tolerance:0.####} s); the video and the Parquet timestamps do not match.");
        }
        return new Matched(clip, frames, problems);
    }
}
