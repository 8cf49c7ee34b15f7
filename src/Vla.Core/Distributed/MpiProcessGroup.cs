using System.Runtime.InteropServices;
using System.Text;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>
/// Collectives over Open MPI through a direct binding to <c>libmpi.so.40</c>. (MPI.NET binds MPICH-style
/// integer handles and crashes on Open MPI, whose predefined handles are the addresses of exported
/// globals such as <c>ompi_mpi_comm_world</c>.) Tensor memory is passed by its data pointer, so nothing
/// is copied; counts are C ints, so large buffers go in chunks.
/// </summary>
public sealed unsafe class MpiProcessGroup : IProcessGroup
{
    private const string Library = "libmpi.so.40";
    private const int ThreadSerialized = 2;   // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
    private const int MaxCount = 1 << 30;     // elements per call, well below int.MaxValue
    private static readonly nint InPlace = 1; // MPI_IN_PLACE is (void*)1 in Open MPI

    private readonly nint _world, _float, _double, _sum;
    private readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private bool _disposed;

    /// <inheritdoc/>
    public int Rank { get; }
    /// <inheritdoc/>
    public int WorldSize { get; }
    /// <inheritdoc/>
    public int LocalRank { get; }
    /// <inheritdoc/>
    public string Description { get; }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    [DllImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static extern nint TensorData(nint tensor);

    private MpiProcessGroup(nint library)
    {
        nint Get(string name) => NativeLibrary.GetExport(library, name);
        _world = Get("ompi_mpi_comm_world");
        _float = Get("ompi_mpi_float");
        _double = Get("ompi_mpi_double");
        _sum = Get("ompi_mpi_op_sum");
        _allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Get("MPI_Allreduce");
        _bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Get("MPI_Bcast");
        _barrier = (delegate* unmanaged<nint, int>)Get("MPI_Barrier");
        _finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        _abort = (delegate* unmanaged<nint, int, int>)Get("MPI_Abort");
        var initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        int already = 0;
        Check(initialized(&already), "MPI_Initialized");
        if (already == 0)
        {
            var init = (delegate* unmanaged<int*, nint*, int, int*, int>)Get("MPI_Init_thread");
            int provided = 0;
            Check(init(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        }
        int rank = 0, size = 0;
        Check(((delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_rank"))(_world, &rank), "MPI_Comm_rank");
        Check(((delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_size"))(_world, &size), "MPI_Comm_size");
        Rank = rank;
        WorldSize = size;
        LocalRank = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK"), out int local) ? local : rank;
        var version = stackalloc byte[256];
        int length = 0;
        ((delegate* unmanaged<byte*, int*, int>)Get("MPI_Get_library_version"))(version, &length);
        Description = "MPI: " + Encoding.ASCII.GetString(version, Math.Min(length, 256)).Split(',')[0].Trim();
    }

    /// <summary>Loads Open MPI (globally, as its plugins need) and joins the job <c>mpirun</c> started.</summary>
    public static MpiProcessGroup Create()
    {
        const int RtldNow = 2, RtldGlobal = 0x100;
        nint handle = DlOpen(Library, RtldNow | RtldGlobal);
        if (handle == 0)
            throw new VlaException($"{Library} could not be loaded: install Open MPI (Debian: apt-get install openmpi-bin) to train with several processes on CPU.");
        return new MpiProcessGroup(handle);
    }

    /// <summary>True when Open MPI's library can be loaded on this machine.</summary>
    public static bool IsAvailable => NativeLibrary.TryLoad(Library, out _);

    private static void Check(int code, string call)
    {
        if (code != 0) throw new VlaException($"{call} failed with MPI error {code}.");
    }

    /// <summary>
    /// Runs <paramref name="collective"/> on a host copy of a device tensor and copies the result back (Open MPI as
    /// Debian builds it is not CUDA-aware); false for a host tensor, which the caller handles in place.
    /// </summary>
    private static bool OnHost(Tensor tensor, Action<Tensor> collective)
    {
        if (tensor.device_type == TorchSharp.DeviceType.CPU) return false;
        using var host = tensor.cpu().contiguous();
        collective(host);
        using var noGrad = no_grad();
        tensor.copy_(host);
        return true;
    }

    private static nint Pointer(Tensor tensor)
    {
        if (!tensor.is_contiguous()) throw new ArgumentException("Collectives need a contiguous tensor.", nameof(tensor));
        return TensorData(tensor.Handle);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32) throw new ArgumentException("AllReduceSum takes float32 tensors.", nameof(tensor));
        if (OnHost(tensor, AllReduceSum)) return;
        nint data = Pointer(tensor);
        for (long done = 0, total = tensor.numel(); done < total; done += MaxCount)
        {
            int count = (int)Math.Min(MaxCount, total - done);
            Check(_allreduce(InPlace, data + (nint)(done * sizeof(float)), count, _float, _sum, _world), "MPI_Allreduce");
        }
    }

    /// <inheritdoc/>
    public double[] AllReduceSum(double[] values)
    {
        var result = (double[])values.Clone();
        fixed (double* p = result) Check(_allreduce(InPlace, (nint)p, result.Length, _double, _sum, _world), "MPI_Allreduce");
        return result;
    }

    /// <inheritdoc/>
    public void Broadcast(Tensor tensor, int root)
    {
        if (tensor.dtype != ScalarType.Float32) throw new ArgumentException("Broadcast takes float32 tensors.", nameof(tensor));
        if (OnHost(tensor, host => Broadcast(host, root))) return;
        nint data = Pointer(tensor);
        for (long done = 0, total = tensor.numel(); done < total; done += MaxCount)
        {
            int count = (int)Math.Min(MaxCount, total - done);
            Check(_bcast(data + (nint)(done * sizeof(float)), count, _float, root, _world), "MPI_Bcast");
        }
    }

    /// <inheritdoc/>
    public void Barrier() => Check(_barrier(_world), "MPI_Barrier");

    /// <summary>MPI_Abort on the world: mpirun ends every rank and exits with <paramref name="exitCode"/>.</summary>
    public void Abort(int exitCode)
    {
        _disposed = true; // MPI_Finalize would wait for the ranks this abort stops
        _abort(_world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; this only runs if the library misbehaves
    }

    /// <summary>Leaves the MPI job.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _finalize();
    }
}
