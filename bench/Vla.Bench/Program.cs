using Vla.Bench;

// Benchmarks of the workbench. Usage: dotnet run --project bench/Vla.Bench -c Release -- [compare|data|lerobot|serve|backbone|train|predict|blas|scale|steps CONFIG N] [--quick] (compare, the PyTorch side-by-side, is the default and takes --config sample|mid; train takes --bucket-mb X); mpirun -np 2 dotnet bench/Vla.Bench/bin/Release/net10.0/Vla.Bench.dll allreduce
string repoRoot = AppContext.BaseDirectory;
while (!File.Exists(Path.Combine(repoRoot, "Vla.sln"))) repoRoot = Path.GetDirectoryName(repoRoot) ?? throw new InvalidOperationException("run from inside the repository");
bool quick = args.Contains("--quick");
if (int.TryParse(Environment.GetEnvironmentVariable(Vla.Distributed.WorkerLauncher.ThreadsVariable), out int threads) && threads > 0)
    TorchSharp.torch.set_num_threads(threads); // VLA_THREADS, as the trainer reads it
string[] valued = ["--config", "--bucket-mb"]; // options that take a value
string what = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !valued.Contains(args[i - 1]))).FirstOrDefault() ?? "compare";
if (what != "allreduce" || Vla.Distributed.DistributedEnvironment.Detect().Rank == 0)
    Console.WriteLine($"machine: {Host.Summary()}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd}");
var run = RunAsync(what);
Vla.Runtime.OpenMpTeam.Release(); // from here the main thread only waits (Vla.Runtime.OpenMpTeam says why)
return await run;

async Task<int> RunAsync(string what)
{
    switch (what)
    {
        case "compare":
            int configArg = Array.IndexOf(args, "--config");
            await CompareBench.RunAsync(repoRoot, quick, configArg >= 0 ? args[configArg + 1] : null);
            return 0;
        case "rss":
            await CompareBench.RssProbeAsync(repoRoot, args.Length > 1 ? args[1] : "sample", args.Length > 2 ? int.Parse(args[2]) : 600);
            return 0;
        case "blas":
            BlasOptionsBench.Run(repoRoot, quick);
            return 0;
        case "blas-child":
            BlasOptionsBench.RunChild();
            return 0;
        case "steps":
            await StepProbe.RunAsync(repoRoot, args.Length > 1 ? args[1] : "mid", args.Length > 2 ? int.Parse(args[2]) : 3);
            return 0;
        case "data":
            await DataPipelineBench.RunAsync(repoRoot, quick);
            return 0;
        case "lerobot":
            await LeRobotBench.RunAsync(repoRoot, quick);
            return 0;
        case "train":
            int bucketArg = Array.IndexOf(args, "--bucket-mb");
            await TrainingBench.RunAsync(repoRoot, quick, bucketArg >= 0 ? double.Parse(args[bucketArg + 1], System.Globalization.CultureInfo.InvariantCulture) : null);
            return 0;
        case "allreduce":
            AllReduceBench.Run(repoRoot);
            return 0;
        case "predict":
            InferenceBench.Run(repoRoot, quick);
            return 0;
        case "serve":
            await ServeBench.RunAsync(repoRoot, quick);
            return 0;
        case "backbone":
            BackboneBench.Run(repoRoot, quick);
            return 0;
        case "scale":
            ScaleBench.Run(repoRoot);
            return 0;
        case "pi0":
            Pi0Bench.Run(repoRoot);
            return 0;
        case "pi0-phase":
            Pi0Bench.RunPhase(repoRoot, args[1], args[2]);
            return 0;
        case "scale-phase":
            ScaleBench.RunPhase(repoRoot, args[1], args[2]);
            return 0;
        default:
            Console.Error.WriteLine($"unknown benchmark '{what}' (known: compare, data, lerobot, serve, backbone, train, predict, blas, steps, rss, scale, pi0, allreduce)");
            return 2;
    }
}
