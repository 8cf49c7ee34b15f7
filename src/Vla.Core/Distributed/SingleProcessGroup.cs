using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>One process: every collective is the identity.</summary>
public sealed class SingleProcessGroup : IProcessGroup
{
    /// <inheritdoc/>
    public int Rank => 0;
    /// <inheritdoc/>
    public int WorldSize => 1;
    /// <inheritdoc/>
    public int LocalRank => 0;
    /// <inheritdoc/>
    public string Description => "single process";
    /// <inheritdoc/>
    public void AllReduceSum(Tensor tensor) { }
    /// <inheritdoc/>
    public double[] AllReduceSum(double[] values) => values;
    /// <inheritdoc/>
    public void Broadcast(Tensor tensor, int root) { }
    /// <inheritdoc/>
    public void Barrier() { }
    /// <inheritdoc/>
    public void Abort(int exitCode) => Environment.Exit(exitCode);
    /// <inheritdoc/>
    public void Dispose() { }
}
