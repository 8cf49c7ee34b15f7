using TorchSharp;
using Vla.Runtime;

namespace Vla.Tests.Runtime;

public sealed class ComputeDeviceTests
{
    [Theory]
    [InlineData("cpu", false, 0, 0, "cpu")]
    [InlineData("auto", false, 0, 0, "cpu")]
    [InlineData("auto", true, 2, 1, "cuda:1")]   // data parallel: each rank takes cuda:LOCAL_RANK
    [InlineData("cuda", true, 2, 1, "cuda:1")]
    [InlineData("cuda", true, 1, 0, "cuda:0")]
    [InlineData("cuda:1", true, 2, 0, "cuda:1")]
    [InlineData("CPU", true, 2, 0, "cpu")]
    public void A_setting_names_one_device(string setting, bool cuda, int count, int localRank, string expected)
    {
        var device = ComputeDevice.Resolve(setting, "training.device", localRank, cuda, count);
        Assert.Equal(expected, device.type == DeviceType.CUDA ? $"cuda:{device.index}" : "cpu");
    }

    [Fact]
    public void Cuda_without_cuda_is_bad_input_naming_the_key_and_cuda()
    {
        var e = Assert.Throws<BadInputException>(() => ComputeDevice.Resolve("cuda", "training.device", 0, cudaAvailable: false, deviceCount: 0));
        Assert.StartsWith("training.device is cuda, but CUDA is not available here", e.Message);
    }

    [Fact]
    public void A_gpu_index_past_the_visible_devices_is_bad_input()
    {
        var e = Assert.Throws<BadInputException>(() => ComputeDevice.Resolve("cuda:2", "device", 0, cudaAvailable: true, deviceCount: 2));
        Assert.Contains("asks for GPU 2, but 2 CUDA device(s) are visible", e.Message);
        Assert.Throws<BadInputException>(() => ComputeDevice.Resolve("gpu", "device", 0, true, 1));
    }

    [Fact]
    public void A_fixed_gpu_index_with_several_processes_is_refused_since_each_rank_takes_its_local_rank()
    {
        var e = Assert.Throws<BadInputException>(() => ComputeDevice.Resolve("cuda:0", "training.device", 1, cudaAvailable: true, deviceCount: 2, worldSize: 2));
        Assert.Equal("training.device is cuda:0, but with 2 processes each rank takes cuda:LOCAL_RANK; use cuda or auto (and CUDA_VISIBLE_DEVICES to choose the GPUs).", e.Message);
    }

    [Fact]
    public void This_cpu_build_refuses_cuda_in_one_sentence()
    {
        var e = Assert.Throws<BadInputException>(() => ComputeDevice.Resolve("cuda:0", "device"));
        Assert.Contains("CUDA is not available", e.Message);
    }
}
