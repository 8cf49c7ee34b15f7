using Vla.Runtime;

namespace Vla.Distributed;

/// <summary>
/// How this process was started: alone, by <c>mpirun</c> (<c>OMPI_COMM_WORLD_*</c>), by Slurm
/// (<c>SLURM_*</c>), by another PMI launcher (<c>PMI_*</c>) or torchrun-style (<c>RANK</c>,
/// <c>WORLD_SIZE</c>, <c>LOCAL_RANK</c>).
/// </summary>
public static class DistributedEnvironment
{
    /// <summary>(rank, world size, local rank) from the launcher's variables; (0, 1, 0) when alone.</summary>
    public static (int Rank, int WorldSize, int LocalRank) Detect(Func<string, string?>? variables = null)
    {
        variables ??= Environment.GetEnvironmentVariable;
        int? Int(string name) => int.TryParse(variables(name), out int v) ? v : null;
        foreach (var (size, rank, local) in new[]
        {
            ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),
            ("SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID"),
            ("PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),
            ("WORLD_SIZE", "RANK", "LOCAL_RANK"),
        })
        {
            if (Int(size) is int world && Int(rank) is int r)
                return (r, world, Int(local) ?? r);
        }
        return (0, 1, 0);
    }

    /// <summary>True when this process would use NCCL: CUDA is there and the backend allows it.</summary>
    public static bool UsesNccl(string backend) => backend == "nccl" || (backend == "auto" && TorchSharp.torch.cuda.is_available());

    /// <summary>
    /// The process group for this process: none when alone; NCCL when CUDA is available (<c>auto</c> or
    /// <c>nccl</c>, one GPU per local rank, id exchanged at MASTER_ADDR:MASTER_PORT); MPI otherwise.
    /// </summary>
    public static IProcessGroup Create(string backend = "auto")
    {
        var (rank, world, local) = Detect();
        if (world <= 1) return new SingleProcessGroup();
        bool cuda = TorchSharp.torch.cuda.is_available();
        // VLA_NCCL_DEVICE=cpu runs the NCCL path on host memory, for a stand-in library (VLA_NCCL_LIBRARY) in tests.
        bool hostNccl = Environment.GetEnvironmentVariable("VLA_NCCL_DEVICE") == "cpu";
        return backend switch
        {
            "mpi" => MpiProcessGroup.Create(),
            "auto" when !cuda && !hostNccl => MpiProcessGroup.Create(),
            "auto" or "nccl" when cuda || hostNccl => NcclProcessGroup.Create(rank, world, local,
                hostNccl ? TorchSharp.torch.CPU : TorchSharp.torch.device(TorchSharp.DeviceType.CUDA, local), TcpRendezvous.FromEnvironment()),
            "nccl" => throw new BadInputException("--backend nccl needs CUDA tensors, and CUDA is not available in this build (TorchSharp-cpu); use --backend mpi."),
            _ => throw new BadInputException($"--backend must be mpi, nccl or auto (got '{backend}')."),
        };
    }
}
