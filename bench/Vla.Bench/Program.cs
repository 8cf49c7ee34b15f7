using Vla.Bench;

// Benchmarks of the workbench. Usage: dotnet run --project bench/Vla.Bench -c Release -- data|backbone|train|predict [--quick]; mpirun -np 2 dotnet bench/Vla.Bench/bin/Release/net10.0/Vla.Bench.dll allreduce
string repoRoot = AppContext.BaseDirectory;
while (!File.Exists(Path.Combine(repoRoot, "Vla.sln"))) repoRoot = Path.GetDirectoryName(repoRoot) ?? throw new InvalidOperationException("run from inside the repository");
bool quick = args.Contains("--quick");
string what = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "data";
if (what != "allreduce" || Vla.Distributed.DistributedEnvironment.Detect().Rank == 0)
    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd}");
switch (what)
{
    case "data":
        await DataPipelineBench.RunAsync(repoRoot, quick);
        return 0;
    case "train":
        await TrainingBench.RunAsync(repoRoot, quick);
        return 0;
    case "allreduce":
        AllReduceBench.Run();
        return 0;
    case "predict":
        InferenceBench.Run(repoRoot, quick);
        return 0;
    case "backbone":
        BackboneBench.Run(quick);
        return 0;
    default:
        Console.Error.WriteLine($"unknown benchmark '{what}' (known: data, backbone, train, predict, allreduce)");
        return 2;
}
