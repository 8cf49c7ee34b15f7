using System.Runtime.InteropServices;
using TorchSharp;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Distributed;

/// <summary>
/// Collectives over NCCL for CUDA tensors. <c>libnccl.so.2</c> ships with neither TorchSharp nor Debian,
/// so it is loaded from the system (or <c>VLA_NCCL_LIBRARY</c>). Rank 0 creates the 128-byte unique id and
/// hands it out over <see cref="TcpRendezvous"/>; every call runs on the default CUDA stream, so it is
/// ordered after the backward pass that produced the gradients (TorchSharp has no stream API).
/// </summary>
public sealed unsafe class NcclProcessGroup : IProcessGroup
{
    /// <summary>NCCL's <c>ncclUniqueId</c>: 128 opaque bytes, passed by value.</summary>
    [StructLayout(LayoutKind.Sequential, Size = UniqueIdBytes)]
    public struct UniqueId
    {
        private fixed byte _bytes[UniqueIdBytes];
    }

    /// <summary>Size of <see cref="UniqueId"/>.</summary>
    public const int UniqueIdBytes = 128;
    private const int NcclFloat16 = 6, NcclFloat32 = 7, NcclFloat64 = 8, NcclBfloat16 = 9, NcclSum = 0; // ncclDataType_t / ncclRedOp_t values

    private readonly nint _comm;
    private readonly Device _device;
    private readonly delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> _allReduce;
    private readonly delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> _broadcast;
    private readonly delegate* unmanaged<nint, int> _destroy;
    private readonly delegate* unmanaged<nint, int> _abort;
    private readonly delegate* unmanaged<int, nint> _errorString;
    private bool _disposed;

    /// <inheritdoc/>
    public int Rank { get; }
    /// <inheritdoc/>
    public int WorldSize { get; }
    /// <inheritdoc/>
    public int LocalRank { get; }
    /// <inheritdoc/>
    public string Description { get; }

    [DllImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static extern nint TensorData(nint tensor);

    private NcclProcessGroup(nint library, int rank, int world, int localRank, Device device, Func<UniqueId, UniqueId> shareId)
    {
        nint Get(string name) => NativeLibrary.GetExport(library, name);
        _allReduce = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)Get("ncclAllReduce");
        _broadcast = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)Get("ncclBroadcast");
        _destroy = (delegate* unmanaged<nint, int>)Get("ncclCommDestroy");
        _abort = (delegate* unmanaged<nint, int>)Get("ncclCommAbort");
        _errorString = (delegate* unmanaged<int, nint>)Get("ncclGetErrorString");
        Rank = rank;
        WorldSize = world;
        LocalRank = localRank;
        _device = device;

        UniqueId id = default;
        if (rank == 0) Check(((delegate* unmanaged<UniqueId*, int>)Get("ncclGetUniqueId"))(&id), "ncclGetUniqueId");
        id = shareId(id);
        nint comm = 0;
        Check(((delegate* unmanaged<nint*, int, UniqueId, int, int>)Get("ncclCommInitRank"))(&comm, world, id, rank), "ncclCommInitRank");
        _comm = comm;
        int version = 0;
        if (NativeLibrary.TryGetExport(library, "ncclGetVersion", out nint getVersion))
            ((delegate* unmanaged<int*, int>)getVersion)(&version);
        Description = $"NCCL {version / 10000}.{version / 100 % 100}.{version % 100}";
    }

    /// <summary>
    /// Joins the job: loads NCCL, exchanges the unique id through MASTER_ADDR:MASTER_PORT (ranks prove they belong to the
    /// job with <paramref name="token"/>) and creates the
    /// communicator on <paramref name="device"/> (normally <c>cuda:LOCAL_RANK</c>).
    /// </summary>
    public static NcclProcessGroup Create(int rank, int world, int localRank, Device device, System.Net.IPEndPoint rendezvous, string token, string? library = null)
    {
        library ??= Environment.GetEnvironmentVariable("VLA_NCCL_LIBRARY") ?? "libnccl.so.2";
        if (!NativeLibrary.TryLoad(library, out nint handle))
            throw new VlaException($"{library} could not be loaded: install NCCL (it ships with neither TorchSharp nor Debian) or point VLA_NCCL_LIBRARY at it.");
        ComputeDevice.MakeCurrent(device); // NCCL binds the communicator to the current CUDA device
        var timeout = TimeSpan.FromSeconds(120);
        return new NcclProcessGroup(handle, rank, world, localRank, device, id =>
        {
            var bytes = new byte[UniqueIdBytes];
            if (rank == 0)
            {
                MemoryMarshal.Write(bytes, in id);
                TcpRendezvous.Serve(rendezvous.Port, bytes, world, token, timeout);
                return id;
            }
            return MemoryMarshal.Read<UniqueId>(TcpRendezvous.Fetch(rendezvous, UniqueIdBytes, rank, token, timeout));
        });
    }

    private void Check(int code, string call)
    {
        if (code == 0) return;
        string message = _errorString is not null ? Marshal.PtrToStringAnsi(_errorString(code)) ?? "" : "";
        throw new VlaException($"{call} failed on rank {Rank}: NCCL error {code} ({message}).");
    }

    private static int DataType(Tensor tensor) => tensor.dtype switch
    {
        ScalarType.Float32 => NcclFloat32,
        ScalarType.Float64 => NcclFloat64,
        ScalarType.BFloat16 => NcclBfloat16,
        ScalarType.Float16 => NcclFloat16,
        _ => throw new ArgumentException($"NCCL collectives here take floating-point tensors, not {tensor.dtype}.", nameof(tensor)),
    };

    private nint Pointer(Tensor tensor)
    {
        if (tensor.device_type != _device.type || (_device.type == DeviceType.CUDA && tensor.device_index != _device.index))
            throw new ArgumentException($"NCCL on rank {Rank} works on {_device} memory; this tensor is on {tensor.device}.", nameof(tensor));
        if (!tensor.is_contiguous()) throw new ArgumentException("Collectives need a contiguous tensor.", nameof(tensor));
        return TensorData(tensor.Handle);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Tensor tensor)
    {
        nint data = Pointer(tensor);
        Check(_allReduce(data, data, (nuint)tensor.numel(), DataType(tensor), NcclSum, _comm, 0), "ncclAllReduce");
    }

    /// <inheritdoc/>
    public double[] AllReduceSum(double[] values)
    {
        using var scope = NewDisposeScope();
        var buffer = tensor(values, ScalarType.Float64).to(_device);
        nint data = Pointer(buffer);
        Check(_allReduce(data, data, (nuint)values.Length, NcclFloat64, NcclSum, _comm, 0), "ncclAllReduce");
        return buffer.cpu().data<double>().ToArray();
    }

    /// <inheritdoc/>
    public void Broadcast(Tensor tensor, int root)
    {
        nint data = Pointer(tensor);
        Check(_broadcast(data, data, (nuint)tensor.numel(), DataType(tensor), root, _comm, 0), "ncclBroadcast");
    }

    /// <inheritdoc/>
    public void Barrier() => AllReduceSum([0.0]);

    /// <summary>
    /// ncclCommAbort (pending collectives return instead of waiting for this rank), then exits: the launcher
    /// (<see cref="WorkerLauncher.RunDirect"/>, torchrun, Slurm) sees the exit code and stops the other ranks.
    /// </summary>
    public void Abort(int exitCode)
    {
        _disposed = true;
        _abort(_comm);
        Environment.Exit(exitCode);
    }

    /// <summary>Destroys the communicator.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _destroy(_comm);
    }
}
