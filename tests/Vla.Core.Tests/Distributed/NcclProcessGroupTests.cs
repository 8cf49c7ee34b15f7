using System.Diagnostics;
using System.Net;
using Vla.Distributed;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Tests.Distributed;

/// <summary>
/// The NCCL binding against a fake libnccl (tests/fake-nccl/fake_nccl.c, built here with gcc): two ranks
/// as threads, the unique id handed over TCP, collectives on host memory. No GPU is involved.
/// </summary>
public sealed class NcclProcessGroupTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private string BuildFake()
    {
        string gcc = new[] { "/usr/bin/gcc", "/usr/bin/cc" }.FirstOrDefault(File.Exists) ?? "";
        if (gcc == "")
        {
            const string reason = "gcc is not installed (Debian: apt-get install gcc), so the fake NCCL library cannot be built.";
            if (Environment.GetEnvironmentVariable("VLA_REQUIRE_GCC") == "1") Assert.Fail(reason + " VLA_REQUIRE_GCC=1 requires it.");
            Assert.Skip(reason);
        }
        string output = _files.PathOf("libfakenccl.so");
        var build = Process.Start(new ProcessStartInfo(gcc, ["-shared", "-fPIC", "-O1", "-pthread", "-o", output,
            Path.Combine(TestFiles.RepoRoot, "tests", "fake-nccl", "fake_nccl.c")]) { RedirectStandardError = true })!;
        string errors = build.StandardError.ReadToEnd();
        build.WaitForExit();
        Assert.True(build.ExitCode == 0, errors);
        return output;
    }

    [Fact]
    public void Two_ranks_exchange_the_id_over_tcp_and_all_reduce_and_broadcast()
    {
        string library = BuildFake();
        var endpoint = new IPEndPoint(IPAddress.Loopback, TcpRendezvous.FreePort());
        var results = new string[2];
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(rank => new Thread(() =>
        {
            try
            {
                using var group = NcclProcessGroup.Create(rank, 2, rank, CPU, endpoint, "job-token", library);
                using var scope = NewDisposeScope();
                var values = full([1000], rank + 1f);
                group.AllReduceSum(values);
                var sums = group.AllReduceSum([rank, 1.0]);
                var weights = full([4], 10f * (rank + 1));
                group.Broadcast(weights, root: 1);
                group.Barrier();
                results[rank] = $"{values.min().item<float>()} {values.max().item<float>()} {sums[0]} {sums[1]} {weights.sum().item<float>()} {group.Description}";
            }
            catch (Exception e)
            {
                errors[rank] = e;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join(TimeSpan.FromSeconds(60)));
        Assert.Null(errors[0]);
        Assert.Null(errors[1]);
        Assert.All(results, r => Assert.Equal("3 3 1 2 80 NCCL 2.18.5", r));
    }

    [Fact]
    public void A_missing_library_is_a_clear_error()
    {
        var e = Assert.Throws<VlaException>(() => NcclProcessGroup.Create(0, 2, 0, CPU, new IPEndPoint(IPAddress.Loopback, 1), "job-token", "/nonexistent/libnccl.so.2"));
        Assert.Contains("could not be loaded: install NCCL", e.Message);
    }

    [Fact]
    public void Launcher_variables_of_every_kind_are_understood()
    {
        var slurm = new Dictionary<string, string> { ["SLURM_NTASKS"] = "8", ["SLURM_PROCID"] = "5", ["SLURM_LOCALID"] = "1" };
        Assert.Equal((5, 8, 1), DistributedEnvironment.Detect(slurm.GetValueOrDefault));
        var torchrun = new Dictionary<string, string> { ["WORLD_SIZE"] = "2", ["RANK"] = "1", ["LOCAL_RANK"] = "1" };
        Assert.Equal((1, 2, 1), DistributedEnvironment.Detect(torchrun.GetValueOrDefault));
        var mpi = new Dictionary<string, string> { ["OMPI_COMM_WORLD_SIZE"] = "4", ["OMPI_COMM_WORLD_RANK"] = "2", ["OMPI_COMM_WORLD_LOCAL_RANK"] = "0" };
        Assert.Equal((2, 4, 0), DistributedEnvironment.Detect(mpi.GetValueOrDefault));
        Assert.Equal((0, 1, 0), DistributedEnvironment.Detect(_ => null));
    }
}
