using TorchSharp.Modules;
using Vla.Distributed;
using static TorchSharp.torch;

namespace Vla.Tests.Distributed;

[Collection(ProcessWide.Name)]
public sealed class GradientAveragerTests
{
    /// <summary>Two ranks holding the same gradients: a sum doubles them. Records every all-reduce's size.</summary>
    private sealed class TwinRanks : IProcessGroup
    {
        public List<long> Sizes { get; } = [];
        public int Rank => 0;
        public int WorldSize => 2;
        public int LocalRank => 0;
        public string Description => "two identical ranks";
        public void AllReduceSum(Tensor tensor) { Sizes.Add(tensor.numel()); tensor.mul_(2); }
        public double[] AllReduceSum(double[] values) => values.Select(v => 2 * v).ToArray();
        public void Broadcast(Tensor tensor, int root) { }
        public void Barrier() { }
        public void Abort(int exitCode) => throw new InvalidOperationException("a test group never aborts");
        public void Dispose() { }
    }

    [Fact]
    public void Gradients_are_reduced_in_buckets_no_larger_than_asked_last_parameters_first()
    {
        using var generator = new Generator(1);
        long[] sizes = [3000, 500, 500, 8000, 20, 1000];
        var parameters = sizes.Select(n => new Parameter(zeros(n))).ToList();
        var expected = new List<Tensor>();
        foreach (var p in parameters)
        {
            p.grad = randn([p.numel()], generator: generator);
            expected.Add(p.grad.clone());
        }
        parameters[4].grad = null; // a parameter without a gradient takes part as zeros
        expected[4] = zeros(20);
        var group = new TwinRanks();
        int buckets = GradientAverager.Average(parameters, group, bucketMb: 4000 * 4 / (1024.0 * 1024));

        // Reverse order with 4000 floats a bucket: [1000, 20] [8000 alone, larger than a bucket] [500, 500, 3000].
        Assert.Equal(3, buckets);
        Assert.Equal([1020L, 8000, 4000], group.Sizes);
        for (int i = 0; i < parameters.Count; i++)
            Assert.True(parameters[i].grad!.eq(expected[i]).all().item<bool>(), $"parameter {i}");
    }

    [Fact]
    public void The_default_bucket_holds_a_small_model_in_one_collective()
    {
        var parameters = Enumerable.Range(0, 10).Select(_ => new Parameter(ones(100))).ToList();
        foreach (var p in parameters) p.grad = ones(100);
        var group = new TwinRanks();
        Assert.Equal(1, GradientAverager.Average(parameters, group));
        Assert.Equal([1000L], group.Sizes);
    }
}
