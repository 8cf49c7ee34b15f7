using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Events;

namespace Vla.Kernel.Tests;

/// <summary>The extension in a real C# kernel: what each Vla type displays as, and the #!vla magic command.</summary>
public sealed class KernelFormatterTests
{
    private static readonly string Train = Repo.Literal(Repo.Path("data-samples", "train"));

    private static void AssertSelfContained(string html)
    {
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
        Assert.DoesNotContain("https://", html);
    }

    [Fact]
    public async Task An_episode_shows_frames_of_both_cameras_with_step_numbers_its_prompt_and_curves()
    {
        using var session = await KernelSession.StartAsync();
        string html = await session.ReturnedHtmlAsync($"using Vla.Data; var ds = await EpisodeDataset.OpenAsync([{Train}], new DataOptions()); ds.Episodes[0]");
        Assert.Contains("Episode 0: “pick up the yellow cube”", html);
        Assert.Equal(16, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count); // 8 frames × 2 cameras
        Assert.Contains("step 0</div>", html);
        Assert.Contains("step 27</div>", html); // the last of its 28 steps
        Assert.Contains("state per dimension", html);
        Assert.Contains("action per dimension", html);
        AssertSelfContained(html);
    }

    [Fact]
    public async Task An_episode_from_a_dataset_without_a_wrist_camera_shows_the_main_camera_only()
    {
        var sample = await Vla.Data.EpisodeDataset.OpenAsync([Repo.Path("data-samples", "val")], new Vla.Data.DataOptions());
        var episode = sample.Episodes[0];
        var rows = episode.Steps.Select((s, i) => new Vla.Data.Seed.StepRow(sample.Images.Get(s, 1)!, null, s.State, s.Action,
            i == 0, i == episode.Length - 1, i == episode.Length - 1, episode.Prompt)).ToList();
        using var folder = new Vla.Tests.TempFolder("vla-one-camera-");
        {
            string file = folder.PathOf("one-camera.parquet");
            await Vla.Data.Seed.SeedEpisodeWriter.WriteAsync(file, [rows], new HashSet<string> { "image_2" });
            using var session = await KernelSession.StartAsync();
            string html = await session.ReturnedHtmlAsync($"using Vla.Data; (await EpisodeDataset.OpenAsync([{Repo.Literal(file)}], new DataOptions())).Episodes[0]");
            Assert.Contains("camera 1 (main)", html);
            Assert.DoesNotContain("camera 2", html);
            Assert.Equal(8, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count);
        }
    }

    [Theory]
    [InlineData(28, 8, new[] { 0, 4, 8, 12, 15, 19, 23, 27 })]
    [InlineData(5, 8, new[] { 0, 1, 2, 3, 4 })]
    [InlineData(28, 1, new[] { 0 })]
    [InlineData(28, 0, new int[0])]
    public void Frames_are_spread_evenly_from_the_first_step_to_the_last(int length, int max, int[] expected) =>
        Assert.Equal(expected, Rendering.EpisodeHtml.FrameSteps(length, max));

    [Fact]
    public async Task Normalization_stats_show_a_row_and_a_range_bar_per_dimension()
    {
        using var session = await KernelSession.StartAsync();
        string html = await session.ReturnedHtmlAsync($"using Vla.Data; NormalizationStats.Compute(await EpisodeDataset.OpenAsync([{Train}], new DataOptions()))");
        Assert.Contains("state (7 dimensions, 1438 rows)", html);
        Assert.Contains("action (7 dimensions, 1438 rows)", html);
        Assert.Equal(14, Regex.Matches(html, "<svg").Count); // one range bar per dimension
        AssertSelfContained(html);
    }

    [Fact]
    public async Task A_training_history_shows_the_loss_and_the_validation_curves()
    {
        using var session = await KernelSession.StartAsync();
        string html = await session.ReturnedHtmlAsync("""
            using Vla.Training;
            var h = new TrainingHistory();
            for (int s = 1; s <= 20; s++) h.Add(new TrainingHistory.StepLoss(s, 1 + (s - 1) / 10, 1.0 / s));
            h.Add(new TrainingHistory.EpochSummary(1, 10, 0.5, new ValidationMetrics(0.4, 0.3, 0.6)));
            h.Add(new TrainingHistory.EpochSummary(2, 20, 0.25, new ValidationMetrics(0.2, 0.15, 0.6)));
            h
            """);
        Assert.Contains("step 20, epoch 2, loss 0.05", html);
        Assert.Contains("val action MSE 0.15 (mean-chunk baseline 0.6)", html);
        Assert.Contains(">training loss<", html);
        Assert.Contains(">per epoch<", html);
        Assert.Equal(5, Regex.Matches(html, "<polyline").Count); // loss; train, val loss, val MSE, baseline
        AssertSelfContained(html);
    }

    [Fact]
    public async Task A_live_training_chart_redraws_the_same_output_as_the_history_grows()
    {
        using var session = await KernelSession.StartAsync();
        var events = await session.SubmitAsync("""
            using Vla.Kernel;
            using Vla.Training;
            var h = new TrainingHistory();
            using (h.DisplayLive(TimeSpan.Zero))
                for (int s = 1; s <= 3; s++) h.Add(new TrainingHistory.StepLoss(s, 1, 1.0 / s));
            """);
        var shown = Assert.Single(events.OfType<DisplayedValueProduced>());
        var updates = events.OfType<DisplayedValueUpdated>().ToList();
        Assert.True(updates.Count >= 3, $"expected an update per step and one at the end, got {updates.Count}");
        Assert.All(updates, u => Assert.Equal(shown.ValueId, u.ValueId));
        Assert.Contains("step 3, epoch 1, loss 0.3333", KernelSession.Html(updates).Last());
    }

    [Fact]
    public async Task An_action_chunk_shows_a_row_per_step_and_a_curve_per_dimension()
    {
        using var session = await KernelSession.StartAsync();
        string html = await session.ReturnedHtmlAsync("new Vla.Inference.ActionChunk([0.5f, -1f, 0.25f, 2f, 0f, 1f], 3, 2)");
        Assert.Contains("Action chunk: 3 steps × 2 dimensions", html);
        Assert.Contains("<tr><td>1</td><td>0.25</td><td>2</td></tr>", html);
        Assert.Equal(2, Regex.Matches(html, "<polyline").Count);
        AssertSelfContained(html);
    }

    [Fact]
    public async Task An_evaluation_result_shows_the_report_with_per_step_and_per_dimension_errors()
    {
        using var session = await KernelSession.StartAsync();
        string html = await session.ReturnedHtmlAsync($$"""
            using Vla.Data;
            using Vla.Evaluation;
            var stats = NormalizationStats.Compute(await EpisodeDataset.OpenAsync([{{Train}}], new DataOptions()));
            var metrics = new EvalMetrics(new Normalizer(stats, NormalizationMode.MinMax), horizon: 2, bins: 256);
            metrics.Add(new float[14], Enumerable.Repeat(0.5f, 14).ToArray(), Enumerable.Repeat(0.75f, 14).ToArray(), [true, true]);
            new EvalResult
            {
                Checkpoint = "ckpt", NumInferenceSteps = 10, Seed = 0, NumActionBins = 256, Combined = metrics,
                Datasets = new Dictionary<string, EvalMetrics> { ["val"] = metrics },
                Trajectories = [new Trajectory("val", 3, "pick up the red cube", [new float[7], new float[7]], [new float[7], new float[7]])],
                Log = [],
            }
            """);
        Assert.Contains("Checkpoint <code>ckpt</code>, 1 windows, 10 Euler steps, seed 0.", html);
        Assert.Contains(">Error per horizon step<", html);
        Assert.Contains(">MSE per action dimension<", html);
        Assert.Contains("Episode 3: “pick up the red cube”", html);
        AssertSelfContained(html);
    }

    [Fact]
    public async Task The_vla_magic_command_renders_an_episode_and_names_a_bad_index()
    {
        using var session = await KernelSession.StartAsync();
        string data = Repo.Path("data-samples", "val");
        var events = await session.SubmitAsync($"#!vla episode --data \"{data}\" --index 2");
        Assert.Contains("Episode 2: “pick up the red cube”", Assert.Single(KernelSession.Html(events)));

        events = await session.SubmitAsync($"#!vla episode --data \"{data}\" --index 99", mayFail: true);
        var failed = Assert.Single(events.OfType<CommandFailed>());
        Assert.Contains("--index 99 is out of range", failed.Message);
        Assert.Contains("has 15 episodes (0–14)", failed.Message);
    }

    [Fact]
    public async Task The_vla_magic_command_shows_a_LeRobot_episode_by_its_index_with_video_frames_and_joint_names()
    {
        FfmpegRequirement.SkipUnlessAvailable();
        using var session = await KernelSession.StartAsync();
        // The sample is a partial download (3 of 100 episodes): only the episode asked for is read.
        var events = await session.SubmitAsync($"#!vla episode --data \"{Repo.Path("tests", "data", "lerobot-g1-v21")}\" --index 42");
        string html = Assert.Single(KernelSession.Html(events));
        Assert.Contains("Episode 42: “Pick up the yellow bottle on the table.”", html);
        Assert.Contains("observation.images.cam_high", html);
        Assert.Contains("data:image/png;base64,", html); // frames decoded from the AV1 video
        Assert.Contains("kLeftShoulderPitch", html);
    }

    [Fact]
    public async Task The_vla_magic_command_draws_a_runs_curves_and_says_what_is_missing()
    {
        using var session = await KernelSession.StartAsync();
        using var folder = new Vla.Tests.TempFolder("vla-run-");
        string run = folder.Root;
        Directory.CreateDirectory(Path.Combine(run, "logs"));
        File.WriteAllLines(Path.Combine(run, "logs", "metrics.jsonl"),
        [
            """{"type":"step","step":10,"epoch":1,"loss":0.9}""",
            """{"type":"epoch","step":10,"epoch":1,"train_loss":0.8,"lr":0.001,"val_loss":0.7,"val_action_mse":0.6,"val_baseline_mse":0.9}""",
        ]);
        var events = await session.SubmitAsync($"#!vla training --run \"{run}\"");
        Assert.Contains("val action MSE 0.6 (mean-chunk baseline 0.9)", Assert.Single(KernelSession.Html(events)));

        events = await session.SubmitAsync("#!vla stats", mayFail: true);
        Assert.Contains("#!vla stats needs --data PATH", Assert.Single(events.OfType<CommandFailed>()).Message);
    }
}
