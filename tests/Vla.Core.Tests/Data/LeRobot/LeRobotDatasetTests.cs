using System.Text;
using System.Text.Json;
using Vla.Data;
using Vla.Data.LeRobot;
using Vla.Runtime;
using Vla.Data.Loading;
using Vla.Data.Seed;
using Vla.Config;

namespace Vla.Tests.Data.LeRobot;

/// <summary>A real LeRobot v2.1 dataset (three episodes, AV1 video) read in place, its v3.0 and H.264 copies, and broken copies.</summary>
public sealed class LeRobotDatasetTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task A_v2_1_dataset_is_read_in_place_with_its_episodes_task_and_joint_names()
    {
        LeRobotFixture.RequireFfmpeg();
        var dataset = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options());

        Assert.Equal("LeRobot v2.1", dataset.Format);
        Assert.Equal(LeRobotFixture.Episodes, dataset.Episodes.Select(e => e.Id));
        Assert.Equal(LeRobotFixture.Lengths, dataset.Episodes.Select(e => e.Length));
        Assert.All(dataset.Episodes, e => Assert.Equal("Pick up the yellow bottle on the table.", e.Prompt));
        Assert.Equal((26, 26), (dataset.StateDim, dataset.ActionDim));
        Assert.Equal("kLeftShoulderPitch", dataset.DimensionName(action: false, 0));
        Assert.Equal("kRightHandThumbRotation", dataset.DimensionName(action: true, 25));
        Assert.Equal([LeRobotFixture.Camera], dataset.Frames.Cameras);
        Assert.All(dataset.Episodes, e => Assert.True(e.Steps[0].IsFirst && e.Steps[^1].IsLast));

        // Frames are the camera's: not blank, and the robot moves between the first and a later step.
        var first = LeRobotFixture.Frame(dataset, 0, 0);
        var later = LeRobotFixture.Frame(dataset, 0, 300);
        Assert.InRange(first.Max() - first.Min(), 0.5f, 2f);
        Assert.True(first.Zip(later).Average(p => Math.Abs(p.First - p.Second)) > 0.01);
    }

    [Fact]
    public async Task Rows_agree_with_the_statistics_LeRobot_recorded_for_each_episode()
    {
        // An independent check of the rows: meta/episodes_stats.jsonl was computed by LeRobot from the same Parquet files.
        var dataset = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options() with { VerifyImages = false });
        var recorded = File.ReadLines(Path.Combine(LeRobotFixture.V21, "meta", "episodes_stats.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(e => e.GetProperty("episode_index").GetInt32());
        foreach (var episode in dataset.Episodes)
        {
            foreach (var (key, vector) in new (string, Func<StepRecord, float[]>)[] { ("observation.state", s => s.State), ("action", s => s.Action) })
            {
                var stats = recorded[episode.Id].GetProperty("stats").GetProperty(key);
                float[] Of(string name) => stats.GetProperty(name).EnumerateArray().Select(v => v.GetSingle()).ToArray();
                for (int d = 0; d < 26; d++)
                {
                    var values = episode.Steps.Select(s => vector(s)[d]).ToList();
                    Assert.Equal(Of("min")[d], values.Min());
                    Assert.Equal(Of("max")[d], values.Max());
                    Assert.Equal(Of("mean")[d], values.Average(v => (double)v), 1e-5);
                }
                Assert.Equal(episode.Length, stats.GetProperty("count")[0].GetInt32());
            }
        }
    }

    [Fact]
    public async Task Recorded_statistics_are_pooled_over_the_selected_episodes_as_the_rows_give_them()
    {
        var dataset = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options("41:43") with { VerifyImages = false });
        var recorded = dataset.RecordedStats;
        Assert.NotNull(recorded);
        Assert.Equal(2, recorded.NumEpisodes);
        var computed = NormalizationStats.Compute(dataset);
        foreach (var (r, c) in new[] { (recorded.State, computed.State), (recorded.Action, computed.Action) })
        {
            Assert.Equal(c.Count, r.Count);
            Assert.Equal(c.Min, r.Min);
            Assert.Equal(c.Max, r.Max);
            for (int d = 0; d < 26; d++)
            {
                Assert.Equal(c.Mean[d], r.Mean[d], 1e-5);
                Assert.Equal(c.Std[d], r.Std[d], 1e-4);
            }
        }

        var used = NormalizationStats.ForTraining(dataset, NormalizationMode.MinMax, out string source);
        Assert.Contains("episodes_stats.jsonl", source);
        Assert.Equal("kLeftShoulderPitch", used.State.Names![0]);
        Assert.Contains("\"names\"", used.ToJson());
        // Quantile mode needs q01/q99, which v2.1 metadata does not record: they are computed from the rows.
        NormalizationStats.ForTraining(dataset, NormalizationMode.Quantile, out source);
        Assert.Contains("rows", source);
    }

    [Fact]
    public async Task A_partial_download_names_its_missing_files_and_the_episodes_that_are_there_read()
    {
        var strict = await Assert.ThrowsAsync<BadInputException>(() => EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options(null)));
        Assert.Contains("episode_000000.parquet: the data file of episode 0 is missing", strict.Message);
        Assert.Contains("193 more missing file(s)", strict.Message);

        var listed = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options(null) with { CollectProblems = true, VerifyImages = false });
        Assert.Equal(97 * 2, listed.Problems.Count);
        Assert.Contains(listed.Problems, p => p.File.EndsWith("episode_000099.mp4") && p.Message.Contains("episode 99"));
        Assert.Equal(3, listed.Episodes.Count);

        var unknown = await Assert.ThrowsAsync<BadInputException>(() => EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options("41,150")));
        Assert.Contains("150", unknown.Message);
    }

    [Fact]
    public async Task A_v3_0_copy_reads_the_same_rows_and_frames_as_the_v2_1_original()
    {
        LeRobotFixture.RequireFfmpeg();
        string v3 = await LeRobotFixture.WriteV3Async(_files.Root);
        var original = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options());
        var copy = await EpisodeDataset.OpenAsync([v3], LeRobotFixture.Options(null));

        Assert.Equal("LeRobot v3.0", copy.Format);
        Assert.Single(copy.Files); // all three episodes in one Parquet
        Assert.Equal(original.Episodes.Select(e => (e.Id, e.Length, e.Prompt)), copy.Episodes.Select(e => (e.Id, e.Length, e.Prompt)));
        for (int e = 0; e < 3; e++)
        {
            Assert.Equal(original.Episodes[e].Steps.Select(s => s.State), copy.Episodes[e].Steps.Select(s => s.State));
            Assert.Equal(original.Episodes[e].Steps.Select(s => s.Action), copy.Episodes[e].Steps.Select(s => s.Action));
            // The first, a middle and the last frame of each episode, the concatenated video's spans found by its from/to timestamps.
            foreach (int step in new[] { 0, original.Episodes[e].Length / 2, original.Episodes[e].Length - 1 })
                Assert.Equal(LeRobotFixture.Frame(original, e, step), LeRobotFixture.Frame(copy, e, step));
        }
        Assert.Equal(original.StateNames, copy.StateNames);
    }

    [Fact]
    public async Task An_H264_copy_decodes_to_the_frames_of_the_AV1_original()
    {
        LeRobotFixture.RequireFfmpeg();
        string root = LeRobotFixture.CopyV21(_files.Root);
        string video = LeRobotFixture.VideoOf(root, 41);
        string h264 = _files.PathOf("h264.mp4");
        LeRobotFixture.Run("ffmpeg", "-v", "error", "-i", video, "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", h264);
        File.Move(h264, video, overwrite: true);
        Assert.Equal("h264", (await VideoDecoder.ProbeAsync(video, CancellationToken.None)).Codec);

        var original = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options("41"));
        var copy = await EpisodeDataset.OpenAsync([root], LeRobotFixture.Options("41"));
        foreach (int step in new[] { 0, 200, 398 })
        {
            var a = LeRobotFixture.Frame(original, 0, step);
            var b = LeRobotFixture.Frame(copy, 0, step);
            Assert.InRange(a.Zip(b).Average(p => Math.Abs(p.First - p.Second)), 0, 0.02); // re-encoding loses a little, nothing more
        }
    }

    [Fact]
    public async Task Decoded_frames_stay_within_the_video_cache()
    {
        LeRobotFixture.RequireFfmpeg();
        var dataset = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options() with { VideoCacheBytes = 1 });
        var source = Assert.IsType<VideoFrameSource>(dataset.Frames);
        var first = LeRobotFixture.Frame(dataset, 0, 10);
        for (int e = 0; e < 3; e++) LeRobotFixture.Frame(dataset, e, 5);
        Assert.InRange(source.CachedBytes, 1, (VideoFrameSource.SegmentRows + 2) * (32 * 32 * 3 + 16)); // one segment at most: the newest
        Assert.Equal(first, LeRobotFixture.Frame(dataset, 0, 10)); // decoded again after eviction, the same
    }

    [Fact]
    public async Task Batches_of_a_video_dataset_carry_its_frames_and_normalized_vectors()
    {
        LeRobotFixture.RequireFfmpeg();
        var dataset = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options("41:43"));
        var stats = NormalizationStats.Compute(dataset);
        var layout = new BatchLayout(ImageSize: 32, Cameras: 1, StateDim: 26, PerActionDim: 26, Horizon: 4);
        var loader = new BatchLoader(dataset, new Normalizer(stats, NormalizationMode.MinMax), layout, new LoaderOptions { BatchSize = 8, NumWorkers = 2, Shuffle = true, Seed = 3 });
        var batch = loader.EpochBuffers(0).First();
        for (int i = 0; i < 8; i++)
        {
            var w = batch.Windows[i];
            Assert.Equal(LeRobotFixture.Frame(dataset, w.Episode, w.Step), batch.Images.AsSpan(i * 3 * 32 * 32, 3 * 32 * 32).ToArray());
            Assert.All(batch.State.AsSpan(i * 26, 26).ToArray(), v => Assert.InRange(v, -1.0001f, 1.0001f));
        }
    }

    public static TheoryData<string> BrokenCopies => ["not json", "no features", "state key", "image key", "missing video", "missing data", "short video", "timestamps", "codec"];

    [Theory]
    [MemberData(nameof(BrokenCopies))]
    public async Task Broken_copies_are_refused_in_one_sentence_naming_the_file_and_episode(string fault)
    {
        LeRobotFixture.RequireFfmpeg();
        string root = LeRobotFixture.CopyV21(_files.Root);
        string info = Path.Combine(root, "meta", "info.json");
        var options = LeRobotFixture.Options();
        string expected;
        switch (fault)
        {
            case "not json":
                File.WriteAllText(info, "{ \"codebase_version\": ");
                expected = "info.json: not JSON";
                break;
            case "no features":
                File.WriteAllText(info, "{ \"codebase_version\": \"v2.1\", \"fps\": 30 }");
                expected = "info.json: has no 'features' map";
                break;
            case "state key":
                options = options with { StateKey = "observation.stat" };
                expected = "data.state_key 'observation.stat' is not a feature of this dataset; did you mean 'observation.state'?";
                break;
            case "image key":
                options = options with { ImageKeys = ["observation.images.cam_hi"] };
                expected = "did you mean 'observation.images.cam_high'?";
                break;
            case "missing video":
                File.Delete(LeRobotFixture.VideoOf(root, 42));
                expected = "episode_000042.mp4, column 'observation.images.cam_high': the video of episode 42 is missing.";
                break;
            case "missing data":
                File.Delete(LeRobotFixture.DataOf(root, 43));
                expected = "episode_000043.parquet: the data file of episode 43 is missing.";
                break;
            case "short video":
                string shortened = _files.PathOf("short.mp4");
                LeRobotFixture.Run("ffmpeg", "-v", "error", "-i", LeRobotFixture.VideoOf(root, 41), "-frames:v", "300", "-c", "copy", shortened);
                File.Move(shortened, LeRobotFixture.VideoOf(root, 41), overwrite: true);
                expected = "episode 41: the video holds 300 frames";
                break;
            case "timestamps":
                // The rows claim 20 fps in a 30 fps dataset: from the third row on (0.1 s), no frame lies within half a period of a row.
                var original = await EpisodeDataset.OpenAsync([LeRobotFixture.V21], LeRobotFixture.Options("42") with { VerifyImages = false });
                var episode = original.Episodes[0];
                await LeRobotFixture.WriteRowsAsync(LeRobotFixture.DataOf(root, 42), [(42, episode.Steps, Enumerable.Range(0, episode.Length).Select(i => i / 20.0).ToArray())]);
                expected = "episode_000042.parquet, row 2, column 'timestamp': episode 42, row 2 of the episode: timestamp 0.1 s is not 2 frame periods after the first";
                break;
            case "codec":
                // The sample entry's fourcc renamed: a codec no ffmpeg knows.
                string video = LeRobotFixture.VideoOf(root, 43);
                var bytes = File.ReadAllBytes(video);
                int sampleEntries = bytes.AsSpan().IndexOf("stsd"u8);
                int at = sampleEntries + bytes.AsSpan(sampleEntries).IndexOf("av01"u8);
                Assert.True(sampleEntries > 0 && at > sampleEntries);
                Encoding.ASCII.GetBytes("zzzz").CopyTo(bytes, at);
                File.WriteAllBytes(video, bytes);
                expected = "episode_000043.mp4: the video codec 'unknown' (tag zzzz) cannot be decoded by this ffmpeg";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault));
        }
        var e = await Assert.ThrowsAsync<BadInputException>(() => EpisodeDataset.OpenAsync([root], options));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"expected '{expected}' in: {e.Message}");
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task Rows_without_a_frame_are_found_when_decoding_too()
    {
        // With the opening checks off, a video shorter than its episode still never trains on a wrong frame: the rows past its end are problems.
        LeRobotFixture.RequireFfmpeg();
        string root = LeRobotFixture.CopyV21(_files.Root);
        string shortened = _files.PathOf("short.mp4");
        LeRobotFixture.Run("ffmpeg", "-v", "error", "-i", LeRobotFixture.VideoOf(root, 41), "-frames:v", "300", "-c", "copy", shortened);
        File.Move(shortened, LeRobotFixture.VideoOf(root, 41), overwrite: true);
        var dataset = await EpisodeDataset.OpenAsync([root], LeRobotFixture.Options("41") with { VerifyImages = false });
        var chw = new float[3 * 32 * 32];
        Assert.Null(dataset.Frames.Preprocess(dataset.Episodes[0], 299, 1, 32, 1L << 30, chw));
        var problem = dataset.Frames.Preprocess(dataset.Episodes[0], 300, 1, 32, 1L << 30, chw);
        Assert.NotNull(problem);
        Assert.Contains("episode 41, row 300", problem.ToString());
        Assert.Contains("it ends before the episode's 399 rows do (its last frame is at 9.967 s of the episode, frame 300)", problem.Message);
    }

    [Fact]
    public void Episode_selections_read_as_python_slices_and_lists()
    {
        var range = EpisodeSelection.Parse(["41:43"], "k")!;
        Assert.True(range.Contains(41) && range.Contains(42) && !range.Contains(43));
        var mixed = EpisodeSelection.Parse(["1, 5:7", "90:"], "k")!;
        Assert.Equal([1, 5, 6, 90, 91], mixed.Indices(92));
        Assert.Null(EpisodeSelection.Parse([], "k"));
        Assert.Contains("data.val_episodes: 'a:b' is not an episode index", Assert.Throws<BadInputException>(() => EpisodeSelection.Parse(["a:b"], "data.val_episodes")).Message);
        Assert.Contains("selects no episode", Assert.Throws<BadInputException>(() => EpisodeSelection.Parse(["5:3"], "k")).Message);
    }

    [Fact]
    public void Validation_episodes_on_the_training_root_are_left_out_of_training_and_never_shared()
    {
        var config = new Vla.Config.VlaConfig { Data = new Vla.Config.DataConfig { TrainParquetFiles = ["root"], ValEpisodes = ["90:"] } };
        var train = DataOptions.From(config).Episodes!;
        Assert.True(train.Contains(0) && train.Contains(89) && !train.Contains(90) && !train.Contains(99));
        Assert.True(DataOptions.From(config, validation: true).Episodes!.Contains(95));

        var shared = config with { Data = config.Data with { TrainEpisodes = ["0:91"] } };
        Assert.Contains("data.train_episodes (0:91) and data.val_episodes (90:) both hold episode 90", string.Join(" ", Vla.Config.ConfigValidator.Problems(shared)));
    }

    [Fact]
    public async Task Frame_times_deep_into_a_long_video_keep_a_frame_period_apart()
    {
        // v3.0 files concatenate episodes, so frames can sit hours into a file; ffmpeg prints pts_time with 6 digits only.
        LeRobotFixture.RequireFfmpeg();
        // Matroska keeps the shifted timestamps (in milliseconds); the file starts at 12,345.5 s, where pts_time prints 12345.5 twice.
        string late = _files.PathOf("late.mkv");
        LeRobotFixture.Run("ffmpeg", "-v", "error", "-i", LeRobotFixture.VideoOf(LeRobotFixture.V21, 41), "-t", "1", "-c", "copy", "-output_ts_offset", "12345.5", late);
        var clip = await VideoDecoder.DecodeAsync(late, 0, 0.5, 30, 16);
        Assert.InRange(clip.Times.Length, 14, 17);
        Assert.Equal(12345.5, clip.Times[0], 1e-6);
        for (int i = 1; i < clip.Times.Length; i++) Assert.Equal(1 / 30.0, clip.Times[i] - clip.Times[i - 1], 1e-3);
    }

    [Fact]
    public async Task Seed_schema_episodes_are_selected_by_position()
    {
        await SeedEpisodeWriter.WriteAsync(_files.PathOf("a.parquet"), [TestFiles.Episode(3), TestFiles.Episode(4), TestFiles.Episode(5)]);
        var dataset = await EpisodeDataset.OpenAsync([_files.PathOf("a.parquet")], new DataOptions { Episodes = EpisodeSelection.Parse(["1:3"], "k") });
        Assert.Equal([4, 5], dataset.Episodes.Select(e => e.Length));
        Assert.Equal([1, 2], dataset.Episodes.Select(e => e.Id));
        Assert.Equal([0, 1], dataset.Episodes.Select(e => e.Index));
    }
}
