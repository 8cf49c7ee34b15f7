using System.Runtime.InteropServices;

namespace Vla.Runtime;

/// <summary>
/// Hands the calling thread's OpenMP worker threads back to libgomp once a block of libtorch work on it has ended.
/// </summary>
/// <remarks>
/// libtorch's CPU kernels run on OpenMP (GNU libgomp). libgomp gives every thread that opens a parallel region a team
/// of its own and keeps it for as long as that thread lives; once the threads it keeps exceed the processors the process
/// may use, it stops letting idle workers spin and puts them to sleep after about a hundred polls. Every parallel region
/// then costs a futex wake-up of a sleeping thread: on a 2-core VM the sample model's chunk took 36–59 ms instead of 11–20
/// and its training step 131–263 ms instead of 71–119 (bench/README.md, "Against PyTorch"). .NET moves work between
/// threads at every <c>await</c>, and thread-pool threads live on after their work, so a process that built its model on
/// one thread and trains or predicts on another was in that state for good. Releasing the team at the end of each
/// block (the next block on that thread starts a new one, one thread creation) keeps a single team alive: the one of the
/// thread computing now. <see cref="NativeCallGuard"/> does it for every guarded block (training steps, validation,
/// predictions, sampling), and building a model or loading a checkpoint does it when done; hosts that run other libtorch
/// work on threads that then sit idle call <see cref="Release"/> themselves.
/// </remarks>
public static unsafe class OpenMpTeam
{
    private const int PauseSoft = 1; // omp_pause_soft
    private static readonly Lock Gate = new();
    private static delegate* unmanaged<int, int> s_pause;
    private static bool s_resolved;

    /// <summary>
    /// Releases the calling thread's OpenMP team, if libtorch has loaded libgomp and this thread has one; returns whether
    /// libgomp was found. Call it outside any parallel region, on a thread whose libtorch work has ended.
    /// </summary>
    public static bool Release()
    {
        var pause = Resolve();
        if (pause is null) return false;
        pause(PauseSoft);
        return true;
    }

    /// <summary>The path of the libgomp mapped into this process (libtorch's own copy, or the system's), if any.</summary>
    internal static string? LoadedLibgomp() =>
        ProcessMaps.Read().FirstOrDefault(m => m.FileName?.StartsWith("libgomp", StringComparison.Ordinal) == true)?.Path;

    private static delegate* unmanaged<int, int> Resolve()
    {
        if (s_resolved) return s_pause;
        lock (Gate)
        {
            if (s_resolved) return s_pause;
            // Before libtorch is loaded there is nothing to release, and nothing is cached so that a later call looks again.
            if (LoadedLibgomp() is not { } path) return null;
            if (NativeLibrary.TryLoad(path, out var handle) && NativeLibrary.TryGetExport(handle, "omp_pause_resource_all", out var export))
                s_pause = (delegate* unmanaged<int, int>)export;
            s_resolved = true;
            return s_pause;
        }
    }
}
