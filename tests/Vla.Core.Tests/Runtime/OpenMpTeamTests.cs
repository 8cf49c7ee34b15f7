using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Tests.Runtime;

[Collection(ProcessWide.Name)]
public sealed class OpenMpTeamTests
{
    /// <summary>Its thread's name, which the OpenMP workers it starts inherit (15 characters at most, as Linux keeps).</summary>
    private const string Name = "vla-omp-test";

    /// <summary>A thread that ran a parallel libtorch op and then waits, as a thread-pool thread does after its block.</summary>
    private sealed class IdleComputeThread : IDisposable
    {
        private readonly Thread _thread;
        private readonly SemaphoreSlim _work = new(0), _done = new(0);
        private Action? _next;

        public IdleComputeThread()
        {
            _thread = new Thread(() =>
            {
                while (true)
                {
                    _work.Wait();
                    var next = _next;
                    if (next is null) return;
                    next();
                    _done.Release();
                }
            }) { IsBackground = true, Name = Name };
            _thread.Start();
            Run(() => { }); // running, under its name
        }

        public void Run(Action action)
        {
            _next = action;
            _work.Release();
            _done.Wait();
        }

        public void Dispose()
        {
            _next = null;
            _work.Release();
            _thread.Join();
        }
    }

    /// <summary>Threads of this process named <see cref="Name"/>: the test's thread and the OpenMP workers it started.</summary>
    private static int ThreadCount() =>
        Directory.GetDirectories("/proc/self/task").Count(task => File.ReadAllText(Path.Combine(task, "comm")).Trim() == Name);

    private static void ParallelOp()
    {
        using var scope = NewDisposeScope();
        var a = ones(1 << 20); // a million floats: above libtorch's grain size, so the add runs as an OpenMP parallel region
        (a + a).sum().item<float>();
    }

    /// <summary>Polls <paramref name="condition"/> for a while: libgomp's released workers exit on their own schedule.</summary>
    private static bool Eventually(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++) Thread.Sleep(50);
        return condition();
    }

    [Fact]
    public void Releasing_a_thread_that_computed_ends_its_OpenMP_workers_and_a_guarded_block_releases_its_own()
    {
        TorchRuntime.EnsureReady();
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread names and /proc are Linux's");
        Assert.SkipUnless(get_num_threads() >= 2, $"libtorch runs {get_num_threads()} thread here: it never starts an OpenMP team");
        ParallelOp(); // libtorch (and its libgomp) loaded
        Assert.NotNull(OpenMpTeam.LoadedLibgomp());

        using var worker = new IdleComputeThread();
        int before = ThreadCount(); // the test's thread alone
        worker.Run(ParallelOp);
        int withTeam = ThreadCount();
        Assert.True(withTeam > before, $"a parallel op on a new thread started no OpenMP worker ({before} → {withTeam} threads)");

        worker.Run(() => Assert.True(OpenMpTeam.Release()));
        Assert.True(Eventually(() => ThreadCount() <= before), $"{ThreadCount()} threads after the release, {before} before the team started");

        // NativeCallGuard does the same when a thread's outermost guarded block ends; nested blocks keep the team.
        worker.Run(() =>
        {
            using var outer = NativeCallGuard.Enter();
            using (NativeCallGuard.Enter()) ParallelOp();
            Assert.True(ThreadCount() > before, "an inner block ended and released the team the outer block is still using");
        });
        Assert.True(Eventually(() => ThreadCount() <= before), $"{ThreadCount()} threads after the outer guarded block ended, {before} before");
    }
}
