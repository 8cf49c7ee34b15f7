namespace Vla.Kernel.Tests;

/// <summary>Every notebook in notebooks/ runs top to bottom without a cell error: the smoke test users asked for.</summary>
[Collection(NotebookCollection.Name)]
public sealed class NotebookExecutionTests(PackedFeed feed)
{
    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(Repo.Path("notebooks"), "*.ipynb").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task The_notebook_runs_headless_without_a_cell_error(string notebook)
    {
        if (notebook.Contains("distributed", StringComparison.Ordinal))
            MpiRequirement.SkipUnlessAvailable();
        if (notebook.Contains("data", StringComparison.Ordinal) || notebook.Contains("pi0", StringComparison.Ordinal))
            FfmpegRequirement.SkipUnlessAvailable(); // it opens (or fine-tunes on) the LeRobot sample's video
        using var folder = new Vla.Tests.TempFolder("vla-nb-out-");
        string output = folder.Root;
        var run = await ChildProcess.RunAsync("dotnet",
            [ChildProcess.NotebookRunner, "run", Repo.Path("notebooks", notebook), "--packages", feed.Folder, "--output-dir", output]);
        Assert.True(run.ExitCode == 0, $"{notebook} failed:\n{run.Error}\n{run.Output}");
        Assert.True(File.Exists(Path.Combine(output, notebook)), "no executed copy written");
    }
}

/// <summary>Open MPI is a system component: its absence skips, unless CI asks for it (VLA_REQUIRE_MPI=1).</summary>
internal static class MpiRequirement
{
    public static void SkipUnlessAvailable()
    {
        bool present = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "mpirun")));
        if (present) return;
        if (Environment.GetEnvironmentVariable("VLA_REQUIRE_MPI") == "1")
            Assert.Fail("mpirun is not installed but VLA_REQUIRE_MPI=1 requires it (apt-get install openmpi-bin).");
        Assert.Skip("mpirun is not installed (apt-get install openmpi-bin); the distributed notebook needs it.");
    }
}

/// <summary>FFmpeg is a system component: its absence skips, unless CI asks for it (VLA_REQUIRE_FFMPEG=1).</summary>
internal static class FfmpegRequirement
{
    public static void SkipUnlessAvailable()
    {
        if (Vla.Data.LeRobot.VideoDecoder.Available) return;
        if (Environment.GetEnvironmentVariable("VLA_REQUIRE_FFMPEG") == "1")
            Assert.Fail("ffmpeg is not installed but VLA_REQUIRE_FFMPEG=1 requires it (apt-get install ffmpeg).");
        Assert.Skip("ffmpeg is not installed (apt-get install ffmpeg); LeRobot video needs it.");
    }
}
