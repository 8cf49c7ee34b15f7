namespace Vla.Data.LeRobot;

/// <summary>
/// The checks of a video dataset made when it is opened, without decoding: each video file is readable and of a codec this
/// ffmpeg decodes, the rows are one frame period apart, and every row's time lies within its video.
/// </summary>
internal static class VideoChecks
{
    public static async Task CheckAsync(IReadOnlyList<Episode> episodes, IReadOnlyList<VideoFrameSource.Clip[]> clips, IReadOnlyList<double[]> timestamps,
        double fps, List<DataProblem> problems, CancellationToken ct)
    {
        double period = 1 / fps, tolerance = period / 2 + 1e-6;
        var files = clips.SelectMany(c => c).Select(c => c.Path).Distinct().Where(File.Exists).ToList(); // missing ones are problems already
        var probes = new Dictionary<string, VideoProbe>();
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (file, token) =>
        {
            var probe = await VideoDecoder.ProbeAsync(file, token);
            lock (probes) probes[file] = probe;
        });
        for (int e = 0; e < episodes.Count; e++)
        {
            var episode = episodes[e];
            var times = timestamps[e];
            for (int k = 1; k < times.Length; k++)
            {
                if (Math.Abs(times[k] - times[0] - k * period) <= tolerance) continue;
                problems.Add(new DataProblem(episode.File, episode.Steps[k].Row, "timestamp",
                    $"episode {episode.Id}, row {k} of the episode: timestamp {times[k]:0.####} s is not {k} frame periods after the first ({times[0]:0.####} s at {fps:0.##} fps), " +
                    "so its video frame cannot be found; the video and the Parquet timestamps do not match."));
                break;
            }
            foreach (var clip in clips[e])
            {
                if (!probes.TryGetValue(clip.Path, out var probe)) continue;
                double end = Math.Min(clip.To, probe.Duration);
                double last = clip.From + times[^1];
                if (last <= end - period + tolerance) continue;
                int frames = (int)Math.Round((end - clip.From) * fps);
                problems.Add(new DataProblem(clip.Path, null, null,
                    $"episode {episode.Id}: the video holds {Math.Max(frames, 0)} frames ({Math.Max(end - clip.From, 0):0.###} s) for the episode's {times.Length} rows " +
                    $"(last timestamp {times[^1]:0.###} s), so it has fewer frames than the episode or the timestamps do not match."));
            }
        }
    }
}
