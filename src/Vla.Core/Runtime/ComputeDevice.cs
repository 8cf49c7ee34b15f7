using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Runtime;

/// <summary>
/// The one device decision of a process (<c>training.device</c>, and the device of eval, predict, caption
/// and serve): <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c> (CUDA when this build and host have it,
/// else the CPU). In data parallel each rank takes <c>cuda:LOCAL_RANK</c>; CUDA numbers the devices that
/// <c>CUDA_VISIBLE_DEVICES</c> leaves visible, so that variable is respected as it is everywhere else.
/// </summary>
public static class ComputeDevice
{
    /// <summary>
    /// The device <paramref name="setting"/> names, for a process with local rank <paramref name="localRank"/>;
    /// <paramref name="key"/> is the config key or parameter the setting came from, for the error message.
    /// </summary>
    public static Device Resolve(string setting, string key, int localRank = 0) =>
        Resolve(setting, key, localRank, cuda.is_available(), cuda.is_available() ? cuda.device_count() : 0);

    /// <summary>The same decision for a host with <paramref name="cudaAvailable"/> and <paramref name="deviceCount"/> GPUs (testable without one).</summary>
    public static Device Resolve(string setting, string key, int localRank, bool cudaAvailable, int deviceCount)
    {
        string s = setting.Trim().ToLowerInvariant();
        if (s == "cpu") return CPU;
        if (s == "auto") return cudaAvailable ? CudaDevice(localRank, setting, key, deviceCount) : CPU;
        if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cudaAvailable)
                throw new BadInputException($"{key} is {setting}, but CUDA is not available here (this build uses TorchSharp-cpu, or no GPU is visible); use cpu or auto.");
            if (s == "cuda") return CudaDevice(localRank, setting, key, deviceCount);
            if (!int.TryParse(s[5..], out int index) || index < 0)
                throw new BadInputException($"{key} must be cpu, cuda, cuda:N or auto (got '{setting}').");
            return CudaDevice(index, setting, key, deviceCount);
        }
        throw new BadInputException($"{key} must be cpu, cuda, cuda:N or auto (got '{setting}').");
    }

    private static Device CudaDevice(int index, string setting, string key, int deviceCount)
    {
        if (index >= deviceCount)
            throw new BadInputException($"{key} is {setting}, which asks for GPU {index}, but {deviceCount} CUDA device(s) are visible (CUDA_VISIBLE_DEVICES={Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES") ?? "unset"}).");
        return new Device(DeviceType.CUDA, index);
    }

    /// <summary>True for a CUDA device.</summary>
    public static bool IsCuda(Device device) => device.type == DeviceType.CUDA;

    /// <summary>
    /// Makes <paramref name="device"/> the current CUDA device of this thread, as NCCL requires before
    /// <c>ncclCommInitRank</c> (TorchSharp has no <c>torch.cuda.set_device</c>, so this calls the CUDA runtime
    /// that libtorch's CUDA build ships). A no-op for the CPU.
    /// </summary>
    public static void MakeCurrent(Device device)
    {
        if (!IsCuda(device)) return;
        foreach (var name in new[] { "libcudart.so", "libcudart.so.12", "libcudart.so.11.0" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(ComputeDevice).Assembly, null, out nint library)) continue;
            unsafe
            {
                var setDevice = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(library, "cudaSetDevice");
                int code = setDevice(device.index);
                if (code != 0) throw new VlaException($"cudaSetDevice({device.index}) failed with CUDA error {code}.");
            }
            return;
        }
        throw new VlaException($"The CUDA runtime (libcudart) could not be loaded to select {device}; it ships with TorchSharp's CUDA package.");
    }

    /// <summary>
    /// Copies a host tensor to <paramref name="device"/>: the tensor itself on the CPU; on CUDA through pinned
    /// memory with a non-blocking copy, so the copy overlaps the work already queued on the GPU.
    /// </summary>
    public static Tensor ToDevice(Tensor host, Device device)
    {
        if (!IsCuda(device)) return host;
        using var pinned = host.pin_memory();
        return pinned.to(device, non_blocking: true);
    }
}
