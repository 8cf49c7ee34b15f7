using System.Globalization;
using System.Text.RegularExpressions;
using FFMpegCore;
using System.Diagnostics;
using Vla.Config;
using Vla.Runtime;

namespace Vla.Data.LeRobot;

/// <summary>Frames of one span of a video, decoded and scaled to a square: RGB24 rows, one frame after another, with each frame's time in the file.</summary>
/// <param name="Pixels">size × size × 3 bytes per frame.</param>
/// <param name="Times">Presentation time of each frame in seconds (the file's own clock).</param>
/// <param name="Size">Side of the square frames.</param>
public sealed record DecodedClip(byte[] Pixels, double[] Times, int Size)
{
    /// <summary>Bytes of one frame.</summary>
    public int FrameBytes => Size * Size * 3;

    /// <summary>The frame nearest to <paramref name="time"/> and how far it is, or (-1, ∞) without frames.</summary>
    public (int Frame, double Distance) Nearest(double time)
    {
        int i = Array.BinarySearch(Times, time);
        if (i >= 0) return (i, 0);
        i = ~i;
        var best = (Frame: -1, Distance: double.PositiveInfinity);
        foreach (int j in new[] { i - 1, i })
            if (j >= 0 && j < Times.Length && Math.Abs(Times[j] - time) < best.Distance) best = (j, Math.Abs(Times[j] - time));
        return best;
    }
}

/// <summary>What ffprobe says of a video file.</summary>
/// <param name="Codec">The video stream's codec (<c>av1</c>, <c>h264</c>).</param>
/// <param name="Duration">Its duration in seconds.</param>
/// <param name="Width">Frame width.</param>
/// <param name="Height">Frame height.</param>
public sealed record VideoProbe(string Codec, double Duration, int Width, int Height);

/// <summary>
/// Decodes camera video with FFmpeg (Debian's <c>ffmpeg</c>, driven through FFMpegCore), as LeRobot's decoders do: one process per
/// span, frames scaled by ffmpeg (bicubic) to the vision tower's square and piped out as raw RGB, each frame's time read from
/// ffmpeg's <c>showinfo</c> filter so frames are matched to rows by time, not by count.
/// </summary>
public static partial class VideoDecoder
{
    private static readonly Lazy<HashSet<string>> Decodable = new(() =>
        FFMpeg.GetVideoCodecs().Where(c => c.DecodingSupported).Select(c => c.Name).ToHashSet(StringComparer.OrdinalIgnoreCase));

    /// <summary>Refuses to go on without <c>ffmpeg</c> and <c>ffprobe</c> on the PATH, naming the package that brings them.</summary>
    public static void RequireFfmpeg()
    {
        if (!Available)
            throw new BadInputException("This dataset's cameras are video, and decoding it needs FFmpeg, which is not installed " +
                "(ffmpeg and ffprobe are not on the PATH; on Debian or Ubuntu: apt-get install ffmpeg).");
    }

    /// <summary>True when ffmpeg and ffprobe are on the PATH.</summary>
    public static bool Available => SystemTools.FindOnPath("ffmpeg") is not null && SystemTools.FindOnPath("ffprobe") is not null;

    /// <summary>Codec, duration and size of <paramref name="path"/>'s video stream; a file ffprobe cannot read, or one whose codec this ffmpeg cannot decode, is an error naming it.</summary>
    public static async Task<VideoProbe> ProbeAsync(string path, CancellationToken ct)
    {
        IMediaAnalysis analysis;
        try
        {
            analysis = await FFProbe.AnalyseAsync(path, cancellationToken: ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new BadInputException($"{path}: ffprobe cannot read the video ({FirstLine(e.Message)}).", e);
        }
        var video = analysis.PrimaryVideoStream ?? throw new BadInputException($"{path}: the file has no video stream.");
        string codec = string.IsNullOrEmpty(video.CodecName) ? "unknown" : video.CodecName;
        if (!Decodable.Value.Contains(codec))
            throw new BadInputException($"{path}: the video codec '{codec}'{(string.IsNullOrEmpty(video.CodecTagString) ? "" : $" (tag {video.CodecTagString})")} " +
                "cannot be decoded by this ffmpeg (LeRobot datasets use AV1, H.264 or HEVC).");
        double duration = video.Duration > TimeSpan.Zero ? video.Duration.TotalSeconds : analysis.Duration.TotalSeconds;
        return new VideoProbe(codec, duration, video.Width ?? 0, video.Height ?? 0);
    }

    /// <summary>
    /// Decodes the frames of <paramref name="path"/> whose times lie in [<paramref name="from"/> − tolerance, <paramref name="to"/> + tolerance),
    /// made square at <paramref name="size"/>² as <paramref name="fit"/> says (<see cref="ImageFit.Pad"/>: scaled bilinearly to fit, centred
    /// on black; ffmpeg's bilinear scaler, close to but not the bit-exact torch interpolation encoded frames get). Times keep the file's
    /// clock (<c>-copyts</c>), as v3.0's from/to timestamps do.
    /// </summary>
    /// <remarks>
    /// FFMpegCore builds the command and finds the binary; the process is run here and its standard output read straight into
    /// the frame buffer. FFMpegCore's own pipe sink (a named pipe copied into a stream) measured 0.55–0.64 of
    /// <c>ffmpeg -f null</c>'s frame rate on the shared sample against 0.65–0.70 for standard output (bench/README.md, LeRobot).
    /// A cancelled or failed decode kills ffmpeg: no process outlives its request.
    /// </remarks>
    public static Task<DecodedClip> DecodeAsync(string path, double from, double to, double fps, int size, ImageFit fit = ImageFit.Stretch, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: the video file is missing.");
        double tolerance = 0.5 / fps;
        double start = Math.Max(0, from - tolerance);
        double length = to + tolerance - start;
        int frameBytes = size * size * 3;
        long expected = (long)Math.Ceiling(length * fps) + 2;
        if (expected * frameBytes > Array.MaxLength)
            throw new BadInputException($"{path}: {length:0.#} s of video at {size} px ({expected * frameBytes >> 20} MB) is more than one buffer holds; lower data.image_size.");
        var info = new ProcessStartInfo(GlobalFFOptions.GetFFMpegBinaryPath(), "-nostdin -nostats -hide_banner " + Arguments(path, start, length, size, fit))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var log = new DecodeLog();
        using var process = new Process { StartInfo = info };
        process.ErrorDataReceived += (_, e) => { if (e.Data is string line) log.Add(line); };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BadInputException($"ffmpeg could not be started ({e.Message}); on Debian or Ubuntu: apt-get install ffmpeg.", e);
        }
        byte[] pixels;
        using var cancel = ct.Register(() => { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } });
        try
        {
            process.BeginErrorReadLine();
            // Room for the span's frames at the dataset's rate; a video with more frames than that grows the buffer (up to the array limit).
            pixels = ReadAll(process.StandardOutput.BaseStream, expected * frameBytes,
                () => $"{path}: the video holds far more frames than {length:0.#} s at {fps:0.##} fps; its frame rate does not match info.json's.");
            process.WaitForExit();
            ct.ThrowIfCancellationRequested();
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        process.WaitForExit(); // drains the standard error events
        if (process.ExitCode != 0) throw new BadInputException($"{path}: ffmpeg could not decode the video ({log.LastErrors()}).");
        return Task.FromResult(log.Clip(path, pixels, frameBytes, size));
    }

    /// <summary>ffmpeg's arguments: the span from <paramref name="start"/>, scaled to <paramref name="size"/>², as raw RGB on standard output, each frame's pts logged.</summary>
    private static string Arguments(string path, double start, double length, int size, ImageFit fit)
    {
        string square = fit == ImageFit.Pad
            ? $"scale={size}:{size}:force_original_aspect_ratio=decrease:flags=bilinear,pad={size}:{size}:(ow-iw)/2:(oh-ih)/2:black"
            : $"scale={size}:{size}:flags=bicubic";
        string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
        return FFMpegArguments
            .FromFileInput(path, verifyExists: false, o =>
            {
                if (start > 0) o.WithCustomArgument($"-ss {F(start)}");
                o.WithCustomArgument($"-t {F(length)}");
            })
            .OutputToFile("pipe:1", overwrite: false, o => o
                .WithCustomArgument($"-copyts -vsync passthrough -vf {square},showinfo=checksum=0 -pix_fmt rgb24")
                .ForceFormat("rawvideo"))
            .Arguments;
    }

    /// <summary>
    /// Everything <paramref name="stdout"/> holds, read into a buffer of <paramref name="capacity"/> bytes that doubles when full
    /// (up to the array limit, where <paramref name="tooLong"/> names the fault). Read synchronously: it runs on a loader worker,
    /// and blocking reads measured faster than async ones over the pipe.
    /// </summary>
    private static byte[] ReadAll(Stream stdout, long capacity, Func<string> tooLong)
    {
        var pixels = new byte[capacity];
        int read = 0;
        while (true)
        {
            if (read == pixels.Length)
            {
                if (pixels.Length == Array.MaxLength) throw new BadInputException(tooLong());
                Array.Resize(ref pixels, (int)Math.Min(Array.MaxLength, 2L * pixels.Length));
            }
            int got = stdout.Read(pixels, read, pixels.Length - read);
            if (got == 0) break;
            read += got;
        }
        if (read != pixels.Length) Array.Resize(ref pixels, read); // at most a couple of frames' worth for a span sized from fps
        return pixels;
    }

    /// <summary>
    /// ffmpeg's standard error while it decodes: each frame's integer pts and the filter's time base (showinfo's lines), and the
    /// last few other lines (the reason, when it fails). Lines arrive on the process's event thread.
    /// </summary>
    private sealed class DecodeLog
    {
        private readonly List<long> _pts = [];
        private readonly Queue<string> _errors = new();
        private (long Num, long Den)? _timeBase;

        public void Add(string line)
        {
            // Times from the integer pts and the filter's time base: showinfo's pts_time has 6 significant digits, too few
            // for a frame period deep into a long v3.0 file (at 12,345.5 s consecutive frames print the same time).
            var m = ShowInfo().Match(line);
            var b = TimeBase().Match(line);
            lock (_pts)
            {
                if (m.Success) _pts.Add(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                else if (b.Success) _timeBase ??= (long.Parse(b.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(b.Groups[2].Value, CultureInfo.InvariantCulture));
                else if (!line.Contains("Parsed_showinfo", StringComparison.Ordinal)) { _errors.Enqueue(line); if (_errors.Count > 4) _errors.Dequeue(); }
            }
        }

        public string LastErrors()
        {
            lock (_pts) return string.Join(" ", _errors).Trim();
        }

        /// <summary>The decoded frames with their times, checked against the frames ffmpeg reported.</summary>
        public DecodedClip Clip(string path, byte[] pixels, int frameBytes, int size)
        {
            lock (_pts)
            {
                int frames = pixels.Length / frameBytes;
                if (frames != _pts.Count || pixels.Length % frameBytes != 0 || (frames > 0 && _timeBase is not { Den: > 0 }))
                    throw new BadInputException($"{path}: ffmpeg returned {frames} frames but reported {_pts.Count} frame times; the video is damaged.");
                var (num, den) = _timeBase ?? (1, 1);
                return new DecodedClip(pixels, _pts.Select(p => (double)p * num / den).ToArray(), size);
            }
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim().TrimEnd('.');

    [GeneratedRegex(@"\bn:\s*\d+\s+pts:\s*(-?\d+)\s+pts_time:")]
    private static partial Regex ShowInfo();

    [GeneratedRegex(@"config in time_base:\s*(\d+)/(\d+)")]
    private static partial Regex TimeBase();
}
