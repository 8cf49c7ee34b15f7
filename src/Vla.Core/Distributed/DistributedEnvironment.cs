using Vla.Runtime;
using static TorchSharp.torch;

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

    /// <summary>True when a job with <paramref name="backend"/> whose tensors live on <paramref name="device"/> uses NCCL (auto: only for CUDA tensors).</summary>
    public static bool UsesNccl(string backend, Device device) => backend == "nccl" || (backend == "auto" && ComputeDevice.IsCuda(device));

    /// <summary>
    /// The process group for this process, whose tensors live on <paramref name="device"/> (the rank's
    /// <c>cuda:LOCAL_RANK</c> on GPUs): none when alone; NCCL for CUDA tensors (<c>auto</c> or <c>nccl</c>; the
    /// device is made current before NCCL starts, and the id is exchanged at MASTER_ADDR:MASTER_PORT); MPI otherwise.
    /// </summary>
    public static IProcessGroup Create(string backend, Device device)
    {
        var (rank, world, local) = Detect();
        if (world <= 1) return new SingleProcessGroup();
        // VLA_NCCL_DEVICE=cpu runs the NCCL path on host memory, for a stand-in library (VLA_NCCL_LIBRARY) in tests.
        bool hostNccl = Environment.GetEnvironmentVariable("VLA_NCCL_DEVICE") == "cpu";
        bool cuda = ComputeDevice.IsCuda(device);
        return backend switch
        {
            "mpi" => MpiProcessGroup.Create(),
            "auto" when !cuda && !hostNccl => MpiProcessGroup.Create(),
            "auto" or "nccl" when cuda || hostNccl => NcclProcessGroup.Create(rank, world, local, hostNccl ? CPU : device, TcpRendezvous.FromEnvironment(), TcpRendezvous.TokenFromEnvironment()),
            "nccl" => throw new BadInputException($"The nccl backend needs CUDA tensors, but this process trains on {device} (TorchSharp-cpu has no CUDA); use the mpi backend."),
            _ => throw new BadInputException($"The distributed backend must be mpi, nccl or auto (got '{backend}')."),
        };
    }
}
