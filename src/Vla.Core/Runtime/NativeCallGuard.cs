using System.Runtime;

namespace Vla.Runtime;

/// <summary>
/// Keeps the .NET garbage collector from running while a block of TorchSharp calls is in flight.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns numbers into native <c>Scalar</c> objects on the fly (<c>x + y</c> passes a new
/// Scalar 1 as alpha; its optimizers do the same) and passes only their raw handles to native code. The
/// managed Scalar is then unreachable, so a collection started by another thread (our image decoders
/// allocate steadily) can run its finalizer and free the native Scalar while libtorch still reads it.
/// Seen here as "Expected false to be true … toFloat" after ~700 training steps; it can also silently
/// read a wrong value. Inside this guard no collection starts unless the threads together allocate more
/// than <see cref="BudgetBytes"/>, so collections happen between steps, on the thread that owns the
/// Scalars, when none is in flight. Nested guards are free.
/// <para>
/// The budget covers what the loader's workers allocate while a step runs. At configs/vla_config.yaml's data
/// (224 px, two cameras, batch 20, 4 batches ahead) decoding a batch allocates about 30 MB (53 MB before batches
/// reused their image arrays), and up to 4 batches are built during the first step of an epoch: 120–210 MB, past the
/// earlier 128 MB, after which the runtime collects and the step is unprotected. A guard that outgrows its budget anyway
/// is counted in <see cref="Lapses"/>, which the trainer reports.
/// </para>
/// <para>
/// When a thread's outermost block ends, its OpenMP team is released (<see cref="OpenMpTeam"/>), so the thread that
/// computes next is not slowed down by teams idling on threads that computed before.
/// </para>
/// </remarks>
public sealed class NativeCallGuard : IDisposable
{
    /// <summary>Bytes all threads may allocate inside one guard before the runtime collects anyway.</summary>
    public const long BudgetBytes = 512L << 20;

    /// <summary>Guarded blocks whose threads allocated past <see cref="BudgetBytes"/>, so a collection could run inside them, since the process started.</summary>
    public static long Lapses => Interlocked.Read(ref s_lapses);
    private static long s_lapses;

    [ThreadStatic] private static int _depth;
    private static readonly Lock Gate = new();
    private static bool _active;
    private readonly bool _owner;

    private NativeCallGuard(bool owner) => _owner = owner;

    /// <summary>Starts a guarded block (a no-op when one is already open on this thread or another).</summary>
    public static NativeCallGuard Enter()
    {
        if (_depth++ > 0) return new NativeCallGuard(false);
        lock (Gate)
        {
            if (_active) return new NativeCallGuard(false);
            try
            {
                _active = GC.TryStartNoGCRegion(BudgetBytes);
            }
            catch (InvalidOperationException)
            {
                _active = false; // a region is already open elsewhere in the process
            }
            return new NativeCallGuard(_active);
        }
    }

    /// <summary>Ends the block; collection may run again.</summary>
    public void Dispose()
    {
        if (--_depth == 0) OpenMpTeam.Release(); // the thread's outermost block ended: no idle OpenMP team stays behind
        if (!_owner) return;
        lock (Gate)
        {
            if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
            else Interlocked.Increment(ref s_lapses); // the runtime ended the region: the budget ran out inside the block
            _active = false;
        }
    }
}
