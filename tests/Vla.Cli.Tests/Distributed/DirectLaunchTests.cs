using System.Diagnostics;

namespace Vla.Tests.Distributed;

/// <summary>
/// torchrun-style launching without mpirun (the NCCL path), on host memory with a fake libnccl
/// (tests/fake-nccl): workers get MASTER_ADDR/PORT, RANK, LOCAL_RANK, WORLD_SIZE and exchange the id over TCP.
/// </summary>
public sealed class DirectLaunchTests : IDisposable
{
    private readonly TempFolder _temp = new("vla-direct-");

    public void Dispose() => _temp.Dispose();

    private string BuildFake()
    {
        string gcc = new[] { "/usr/bin/gcc", "/usr/bin/cc" }.FirstOrDefault(File.Exists) ?? "";
        if (gcc == "")
        {
            const string reason = "gcc is not installed (Debian: apt-get install gcc), so the fake NCCL library cannot be built.";
            if (Environment.GetEnvironmentVariable("VLA_REQUIRE_GCC") == "1") Assert.Fail(reason + " VLA_REQUIRE_GCC=1 requires it.");
            Assert.Skip(reason);
        }
        string output = Path.Combine(_temp.Root, "libfakenccl.so");
        var build = Process.Start(new ProcessStartInfo(gcc, ["-shared", "-fPIC", "-pthread", "-o", output,
            Path.Combine(VlaProcess.RepoRoot, "tests", "fake-nccl", "fake_nccl.c")]))!;
        build.WaitForExit();
        Assert.Equal(0, build.ExitCode);
        return output;
    }

    private string Config() => VlaProcess.SampleConfig(_temp.Root);

    [Fact]
    public async Task Workers_started_directly_join_through_the_tcp_rendezvous()
    {
        var environment = new Dictionary<string, string>
        {
            ["VLA_NCCL_LIBRARY"] = BuildFake(), ["VLA_NCCL_DEVICE"] = "cpu", ["FAKE_NCCL_RANKS_PER_PROCESS"] = "1",
        };
        var result = await VlaProcess.RunAsync(["train", "--config", Config(), "--max-steps", "2", "--nproc-per-node", "2", "--backend", "nccl"], null, environment);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("[rank 0] data parallel: 2 processes (NCCL 2.18.5)", result.Stdout);
        Assert.Contains("[rank 0] Finished", result.Stdout);
    }

    [Fact]
    public async Task A_failing_worker_stops_the_job_and_is_named()
    {
        var environment = new Dictionary<string, string> { ["VLA_NCCL_LIBRARY"] = "/nonexistent/libnccl.so.2", ["VLA_NCCL_DEVICE"] = "cpu" };
        var watch = Stopwatch.StartNew();
        var result = await VlaProcess.RunAsync(["train", "--config", Config(), "--nproc-per-node", "2", "--backend", "nccl"], null, environment);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Matches("rank [01] exited with code 1; stopping the other ranks", result.Stderr);
        Assert.Contains("could not be loaded: install NCCL", result.Stderr);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_rank_0_that_cannot_save_aborts_its_communicator_and_the_launcher_stops_the_job()
    {
        var environment = new Dictionary<string, string>
        {
            ["VLA_NCCL_LIBRARY"] = BuildFake(), ["VLA_NCCL_DEVICE"] = "cpu", ["FAKE_NCCL_RANKS_PER_PROCESS"] = "1",
        };
        Directory.CreateDirectory(Path.Combine(_temp.Root, "nosave"));
        File.WriteAllText(Path.Combine(_temp.Root, "nosave", "checkpoints"), "a file where the checkpoints folder goes");
        string config = VlaProcess.SampleConfig(_temp.Root, VlaProcess.OneValidationEpisode(_temp.Root));
        var (result, _) = await VlaProcess.RunBounded(["train", "--config", config, "--max-steps", "2", "--experiment-name", "nosave", "--nproc-per-node", "2", "--backend", "nccl"],
            TimeSpan.FromSeconds(150), environment);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"[rank 0] error: rank 0 of 2 stopped the job: The checkpoint {Path.Combine(_temp.Root, "nosave", "checkpoints", "model_best")} could not be written", result.Stderr);
        Assert.Contains("rank 0 exited with code 1; stopping the other ranks", result.Stderr);
    }
}
