using System.Diagnostics;
using Vla.Runtime;

namespace Vla.Distributed;

/// <summary>
/// Starts N copies of this command as one MPI job, like torchrun for PyTorch: <c>mpirun -np N</c> with
/// the rank-prefixed output streamed through, threads split across ranks, and a non-zero exit (naming
/// the rank) as soon as one worker dies — mpirun then stops the others.
/// </summary>
public static class WorkerLauncher
{
    /// <summary>Variable telling a worker how many compute threads to use.</summary>
    public const string ThreadsVariable = "VLA_THREADS";

    /// <summary>The <c>mpirun</c> on PATH, or null.</summary>
    public static string? FindMpirun() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "mpirun")).FirstOrDefault(File.Exists);

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
            "--nproc-per-node > 1 needs Open MPI's mpirun on PATH (Debian: apt-get install openmpi-bin); it is not installed.");
        int threads = Math.Max(1, Environment.ProcessorCount / processes);
        var info = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in MpirunArguments(processes)) info.ArgumentList.Add(arg);
        foreach (var arg in SelfCommand().Concat(workerArgs)) info.ArgumentList.Add(arg);
        info.Environment[ThreadsVariable] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["TERM"] = "dumb"; // mpirun gives workers a pty; keep .NET from writing terminal modes into the output
        using var process = Process.Start(info) ?? throw new VlaException($"{mpirun} could not be started.");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) error(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        return process.ExitCode;
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
