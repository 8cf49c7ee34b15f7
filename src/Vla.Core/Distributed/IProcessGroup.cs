using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>
/// The few collectives data-parallel training needs, over whatever engine the cluster runs (MPI for
/// CPU tensors, NCCL for CUDA tensors), or none for a single process.
/// </summary>
public interface IProcessGroup : IDisposable
{
    /// <summary>This process's rank, 0 … WorldSize − 1.</summary>
    int Rank { get; }
    /// <summary>Number of processes.</summary>
    int WorldSize { get; }
    /// <summary>Rank among the processes on this machine.</summary>
    int LocalRank { get; }
    /// <summary>The engine's name and version, for logs and <c>vla diagnose</c>.</summary>
    string Description { get; }
    /// <summary>Sums a contiguous float32 tensor across ranks, in place.</summary>
    void AllReduceSum(Tensor tensor);
    /// <summary>Sums small values across ranks (counts, metric sums).</summary>
    double[] AllReduceSum(double[] values);
    /// <summary>Overwrites a contiguous float32 tensor with rank <paramref name="root"/>'s copy.</summary>
    void Broadcast(Tensor tensor, int root);
    /// <summary>Waits until every rank arrives.</summary>
    void Barrier();
    /// <summary>
    /// Ends every rank of the job now, with <paramref name="exitCode"/>: a rank that failed calls it so the others,
    /// waiting in a collective for it, stop instead of hanging. Does not return.
    /// </summary>
    void Abort(int exitCode);
}
