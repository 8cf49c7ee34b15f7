using System.CommandLine;
using Vla.Distributed;
using Vla.Runtime;
using Vla.Training;

namespace Vla.Cli.Commands;

/// <summary><c>vla diagnose</c>: runtime versions, devices and whether this host needed the libstdc++ fix.</summary>
internal static class DiagnoseCommand
{
    /// <summary>Internal: run as one rank of the 2-rank self-test that diagnose starts through mpirun.</summary>
    private static readonly Option<bool> CollectiveWorker = new("--collective-worker") { Hidden = true };
    private static readonly Option<string> Backend = new("--backend") { Hidden = true, DefaultValueFactory = _ => "mpi" };
    private static readonly Option<bool> SkipCollectives = CliOption.Create<bool>("--skip-collectives", "Do not run the 2-process all-reduce self-test.");
    private static readonly Option<bool> Gpu = CliOption.Create<bool>("--gpu", "GPU self-check: a bf16 training step and an action chunk on cuda:0 against the CPU, and a 2-GPU NCCL all-reduce when there are two GPUs.");

    public static Command Create()
    {
        var command = new Command("diagnose", "Show TorchSharp/libtorch versions, devices, the native-library fix, and a 2-process all-reduce self-test.")
        {
            CollectiveWorker, Backend, SkipCollectives, Gpu,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run(parse)), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        if (parse.GetValue(CollectiveWorker))
        {
            string backend = parse.GetValue(Backend)!;
            var device = backend == "nccl" ? ComputeDevice.Resolve("cuda", "device", DistributedEnvironment.Detect().LocalRank) : TorchSharp.torch.CPU;
            using var group = DistributedEnvironment.Create(backend, device);
            Console.WriteLine(CollectiveSelfTest.Run(group, device));
            return CliErrors.Ok;
        }
        if (parse.GetValue(Gpu)) return GpuCheck();
        var report = RuntimeReport.Collect();
        foreach (var (key, value) in report.Lines) Console.WriteLine($"{key,-22} {value}");
        bool healthy = report.Healthy;
        if (!parse.GetValue(SkipCollectives)) healthy &= Collectives();
        return healthy ? CliErrors.Ok : CliErrors.RuntimeFailure;
    }

    /// <summary>
    /// The GPU self-check. It needs a CUDA build (<c>-p:VlaTorchBackend=cuda</c>) and a GPU; this repository's CI has
    /// neither, so there it stops with exit code 2 naming CUDA.
    /// </summary>
    private static int GpuCheck()
    {
        if (!TorchSharp.torch.cuda.is_available())
            throw new BadInputException("diagnose --gpu needs a GPU, but CUDA is not available here (this build uses TorchSharp-cpu, or no GPU is visible); build with -p:VlaTorchBackend=cuda on a machine with one.");
        var gpu = ComputeDevice.Resolve("cuda:0", "--gpu");
        Console.WriteLine($"{"GPU step + chunk",-22} {DeviceSelfCheck.Run(gpu, TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.BFloat16)}");
        if (TorchSharp.torch.cuda.device_count() < 2)
        {
            Console.WriteLine($"{"2-GPU NCCL all-reduce",-22} skipped: {TorchSharp.torch.cuda.device_count()} GPU visible");
            return CliErrors.Ok;
        }
        var lines = new List<string>();
        int code = WorkerLauncher.RunDirect(2, ["diagnose", "--collective-worker", "--backend", "nccl"], lines.Add, lines.Add);
        foreach (var line in lines) Console.WriteLine($"{"2-GPU NCCL all-reduce",-22} {line}");
        bool ok = code == 0 && lines.Count(l => l.Contains("all-reduce correct", StringComparison.Ordinal)) == 2;
        Console.WriteLine($"{"2-GPU NCCL all-reduce",-22} {(ok ? "passed" : $"FAILED (exit code {code})")}");
        return ok ? CliErrors.Ok : CliErrors.RuntimeFailure;
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
