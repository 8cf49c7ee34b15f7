using System.CommandLine;
using Vla.Distributed;
using Vla.Runtime;

namespace Vla.Cli.Commands;

/// <summary><c>vla diagnose</c>: runtime versions, devices and whether this host needed the libstdc++ fix.</summary>
internal static class DiagnoseCommand
{
    /// <summary>Internal: run as one rank of the 2-rank self-test that diagnose starts through mpirun.</summary>
    private static readonly Option<bool> CollectiveWorker = new("--collective-worker") { Hidden = true };
    private static readonly Option<string> Backend = new("--backend") { Hidden = true, DefaultValueFactory = _ => "mpi" };
    private static readonly Option<bool> SkipCollectives = CliOption.Create<bool>("--skip-collectives", "Do not run the 2-process all-reduce self-test.");

    public static Command Create()
    {
        var command = new Command("diagnose", "Show TorchSharp/libtorch versions, devices, the native-library fix, and a 2-process all-reduce self-test.")
        {
            CollectiveWorker, Backend, SkipCollectives,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run(parse)), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        if (parse.GetValue(CollectiveWorker))
        {
            using var group = DistributedEnvironment.Create(parse.GetValue(Backend)!);
            Console.WriteLine(CollectiveSelfTest.Run(group));
            return CliErrors.Ok;
        }
        var report = RuntimeReport.Collect();
        foreach (var (key, value) in report.Lines) Console.WriteLine($"{key,-22} {value}");
        bool healthy = report.Healthy;
        if (!parse.GetValue(SkipCollectives)) healthy &= Collectives();
        return healthy ? CliErrors.Ok : CliErrors.RuntimeFailure;
    }

    private static bool Collectives()
    {
        Console.WriteLine($"{"MPI",-22} {(WorkerLauncher.FindMpirun() is { } mpirun ? mpirun : "mpirun not found (apt-get install openmpi-bin)")}; libmpi.so.40 {(MpiProcessGroup.IsAvailable ? "loadable" : "not found")}");
        string nccl = Environment.GetEnvironmentVariable("VLA_NCCL_LIBRARY") ?? "libnccl.so.2";
        Console.WriteLine($"{"NCCL",-22} {nccl} {(System.Runtime.InteropServices.NativeLibrary.TryLoad(nccl, out _) ? "loadable" : "not found")}; " +
            $"CUDA {(TorchSharp.torch.cuda.is_available() ? "available" : "not available (TorchSharp-cpu build)")}");
        if (WorkerLauncher.FindMpirun() is null) return true;
        var lines = new List<string>();
        int code = WorkerLauncher.Run(2, ["diagnose", "--collective-worker"], lines.Add, lines.Add);
        foreach (var line in lines) Console.WriteLine($"{"2-rank self-test",-22} {line}");
        bool ok = code == 0 && lines.Count(l => l.Contains("all-reduce correct", StringComparison.Ordinal)) == 2;
        Console.WriteLine($"{"2-rank self-test",-22} {(ok ? "passed" : $"FAILED (exit code {code})")}");
        return ok;
    }
}
