using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Vla.Runtime;

namespace Vla.Distributed;

/// <summary>
/// Starts N copies of this command as one MPI job, like torchrun for PyTorch: <c>mpirun -np N</c> with
/// the rank-prefixed output streamed through, threads split across ranks, and a non-zero exit (naming
/// the rank) as soon as one worker dies — mpirun then stops the others. SIGINT and SIGTERM to the launcher ask every
/// worker to stop after its current step (and save it, with training.save_on_preempt); workers still running
/// <see cref="StopGrace"/> later are killed.
/// </summary>
public static class WorkerLauncher
{
    /// <summary>Variable telling a worker how many compute threads to use.</summary>
    public const string ThreadsVariable = "VLA_THREADS";

    /// <summary>How long workers asked to stop may take to finish their step and save, before they are killed.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(25);

    private const int SigTerm = 15, SigUsr1 = 10; // Linux

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>
    /// Until the registrations are disposed, SIGINT/SIGTERM/SIGHUP to this process send <paramref name="stop"/> to the
    /// workers (this process stays alive meanwhile) and arm <paramref name="deadline"/>: the time after which they are
    /// killed. The same signal again more than a second later kills them at once.
    /// </summary>
    private static List<PosixSignalRegistration> ForwardStops(Action stop, Action<string> error, StrongBox<DateTime?> deadline)
    {
        DateTime first = default;
        return [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(signal => PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            if (deadline.Value is not null)
            {
                if (DateTime.UtcNow - first > TimeSpan.FromSeconds(1)) deadline.Value = DateTime.UtcNow; // asked again: stop now
                return;
            }
            first = DateTime.UtcNow;
            deadline.Value = first + StopGrace;
            error($"{context.Signal}: asking every worker to stop after its current step ({StopGrace.TotalSeconds:F0} s before they are killed; signal again to kill them now)");
            stop();
        }))];
    }

    /// <summary>The <c>mpirun</c> on PATH, or null.</summary>
    public static string? FindMpirun() => SystemTools.FindOnPath("mpirun");

    /// <summary>The command line that runs this program again (apphost, or dotnet + entry assembly).</summary>
    public static List<string> SelfCommand()
    {
        string process = Environment.ProcessPath ?? throw new VlaException("Cannot tell which program is running.");
        var entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && entry is not null ? [process, entry] : [process];
    }

    /// <summary>Runs <paramref name="workerArgs"/> in <paramref name="processes"/> ranks on this machine; returns mpirun's exit code.</summary>
    public static int Run(int processes, IReadOnlyList<string> workerArgs, Action<string> output, Action<string> error)
    {
        string mpirun = FindMpirun() ?? throw new BadInputException(
            $"Starting {processes} workers needs Open MPI's mpirun on PATH (Debian: apt-get install openmpi-bin); it is not installed.");
        int threads = Math.Max(1, Environment.ProcessorCount / processes);
        // In a session of its own, so a terminal's Ctrl-C reaches only this launcher, which forwards it as SIGUSR1 (mpirun
        // passes that on to every rank); mpirun's own SIGINT handling would kill the ranks before they could save.
        const string Setsid = "/usr/bin/setsid";
        bool ownSession = File.Exists(Setsid);
        var info = new ProcessStartInfo(ownSession ? Setsid : mpirun) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ownSession) info.ArgumentList.Add(mpirun);
        foreach (var arg in MpirunArguments(processes)) info.ArgumentList.Add(arg);
        foreach (var arg in SelfCommand().Concat(workerArgs)) info.ArgumentList.Add(arg);
        info.Environment[ThreadsVariable] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["TERM"] = "dumb"; // mpirun gives workers a pty; keep .NET from writing terminal modes into the output
        using var process = Process.Start(info) ?? throw new VlaException($"{mpirun} could not be started.");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) error(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = new StrongBox<DateTime?>();
        var forwarding = ForwardStops(() => Kill(process.Id, SigUsr1), error, deadline);
        try
        {
            while (!process.WaitForExit(100))
            {
                if (deadline.Value is { } d && DateTime.UtcNow > d)
                {
                    error($"the workers did not stop within {StopGrace.TotalSeconds:F0} s; killing them.");
                    process.Kill(entireProcessTree: true);
                }
            }
            process.WaitForExit(); // the output is drained
            return process.ExitCode;
        }
        finally
        {
            forwarding.ForEach(r => r.Dispose());
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>
    /// Starts <paramref name="processes"/> workers directly, torchrun-style, for NCCL jobs without mpirun:
    /// MASTER_ADDR/MASTER_PORT (a free local port), RANK, LOCAL_RANK, WORLD_SIZE; output prefixed with the
    /// rank; when one worker fails the others are stopped and the failing rank is named.
    /// </summary>
    public static int RunDirect(int processes, IReadOnlyList<string> workerArgs, Action<string> output, Action<string> error,
        IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        int port = TcpRendezvous.FreePort();
        string token = TcpRendezvous.NewToken(); // only this job's workers get the NCCL id
        int threads = Math.Max(1, Environment.ProcessorCount / processes);
        var workers = new List<Process>();
        var command = SelfCommand();
        var deadline = new StrongBox<DateTime?>();
        var forwarding = ForwardStops(() => { lock (workers) workers.ForEach(w => Kill(w.Id, SigTerm)); }, error, deadline);
        try
        {
            for (int rank = 0; rank < processes; rank++)
            {
                string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var variables = new Dictionary<string, string>
                {
                    ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = Text(port), ["RANK"] = Text(rank), ["LOCAL_RANK"] = Text(rank),
                    ["WORLD_SIZE"] = Text(processes), [ThreadsVariable] = Text(threads), [TcpRendezvous.TokenVariable] = token,
                };
                var worker = StartWorker(rank, [.. command, .. workerArgs], variables.Concat(extraEnvironment ?? new Dictionary<string, string>()), output, error);
                lock (workers) workers.Add(worker);
            }
            while (true)
            {
                var failed = workers.Select((w, rank) => (w, rank)).FirstOrDefault(x => x.w.HasExited && x.w.ExitCode != 0);
                if (failed.w is not null && deadline.Value is null) // asked to stop, each worker exits non-zero after its save: wait for all
                {
                    error($"rank {failed.rank} exited with code {failed.w.ExitCode}; stopping the other ranks.");
                    return failed.w.ExitCode;
                }
                if (workers.All(w => w.HasExited)) return workers.Select(w => w.ExitCode).FirstOrDefault(c => c != 0);
                if (deadline.Value is { } d && DateTime.UtcNow > d)
                {
                    error($"the workers did not stop within {StopGrace.TotalSeconds:F0} s; killing them.");
                    return 1;
                }
                Thread.Sleep(100);
            }
        }
        finally
        {
            forwarding.ForEach(r => r.Dispose());
            foreach (var w in workers)
            {
                if (!w.HasExited) w.Kill(entireProcessTree: true);
                w.WaitForExit();
                w.Dispose();
            }
        }
    }

    /// <summary>Starts worker <paramref name="rank"/> with <paramref name="environment"/> set, its output lines prefixed with its rank.</summary>
    private static Process StartWorker(int rank, IReadOnlyList<string> commandLine, IEnumerable<KeyValuePair<string, string>> environment,
        Action<string> output, Action<string> error)
    {
        var info = new ProcessStartInfo(commandLine[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in commandLine.Skip(1)) info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        var worker = Process.Start(info) ?? throw new VlaException($"Worker {rank} could not be started.");
        string prefix = $"[rank {rank}] ";
        worker.OutputDataReceived += (_, e) => { if (e.Data is not null) output(prefix + e.Data); };
        worker.ErrorDataReceived += (_, e) => { if (e.Data is not null) error(prefix + e.Data); };
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        return worker;
    }

    /// <summary>mpirun's options: N ranks here, output tagged with the rank, no core binding, root allowed in containers.</summary>
    public static List<string> MpirunArguments(int processes)
    {
        var args = new List<string> { "-np", processes.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none", "--tag-output" };
        if (Environment.UserName == "root") args.Add("--allow-run-as-root");
        foreach (var name in new[] { ThreadsVariable, "TERM", "PATH", "DOTNET_ROOT", "HOME", "VLA_NATIVE_CACHE" })
            if (name is ThreadsVariable or "TERM" || Environment.GetEnvironmentVariable(name) is not null) args.AddRange(["-x", name]);
        return args;
    }
}
