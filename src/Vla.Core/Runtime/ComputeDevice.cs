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
    public static Device Resolve(string setting, string key, int localRank = 0, int worldSize = 1) =>
        Resolve(setting, key, localRank, cuda.is_available(), cuda.is_available() ? cuda.device_count() : 0, worldSize);

    /// <summary>The same decision for a host with <paramref name="cudaAvailable"/> and <paramref name="deviceCount"/> GPUs (testable without one).</summary>
    public static Device Resolve(string setting, string key, int localRank, bool cudaAvailable, int deviceCount, int worldSize = 1)
    {
        string s = setting.Trim().ToLowerInvariant();
        if (worldSize > 1 && s.StartsWith("cuda:", StringComparison.Ordinal))
            throw new BadInputException($"{key} is {setting}, but with {worldSize} processes each rank takes cuda:LOCAL_RANK; use cuda or auto (and CUDA_VISIBLE_DEVICES to choose the GPUs).");
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
    /// <c>ncclCommInitRank</c>. TorchSharp has no <c>torch.cuda.set_device</c>, and libtorch's bundled CUDA runtime
    /// has a hashed file name, so this uses the driver API (<c>libcuda.so.1</c>, present wherever a GPU driver is):
    /// the device's primary context, which the CUDA runtime then treats as current. A no-op for the CPU.
    /// Not run here: this machine has no GPU.
    /// </summary>
    public static unsafe void MakeCurrent(Device device)
    {
        if (!IsCuda(device)) return;
        if (!NativeLibrary.TryLoad("libcuda.so.1", out nint driver))
            throw new VlaException($"The CUDA driver (libcuda.so.1) could not be loaded to select {device}.");
        var init = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(driver, "cuInit");
        var deviceGet = (delegate* unmanaged<int*, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGet");
        var retain = (delegate* unmanaged<nint*, int, int>)NativeLibrary.GetExport(driver, "cuDevicePrimaryCtxRetain");
        var setCurrent = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(driver, "cuCtxSetCurrent");
        int handle = 0;
        nint context = 0;
        void Check(int code, string call)
        {
            if (code != 0) throw new VlaException($"{call} for {device} failed with CUDA driver error {code}.");
        }
        Check(init(0), "cuInit");
        Check(deviceGet(&handle, device.index), "cuDeviceGet");
        Check(retain(&context, handle), "cuDevicePrimaryCtxRetain");
        Check(setCurrent(context), "cuCtxSetCurrent");
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
