using TorchSharp;
using Vla.Model;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Data.Loading;

/// <summary>
/// One batch as TorchSharp tensors on the run's device: the policy's input and the target chunks. It owns its tensors:
/// dispose it once the step that used it is done.
/// </summary>
public sealed class VlaBatch : IDisposable
{
    /// <summary>What the policy reads (images, token ids and mask, normalized state).</summary>
    public required PolicyInput Input { get; init; }
    /// <summary>(B, horizon, per_action_dim) float32, normalized.</summary>
    public required Tensor Actions { get; init; }
    /// <summary>(B, horizon) bool: true for chunk steps inside the episode.</summary>
    public required Tensor ActionMask { get; init; }
    /// <summary>The raw instructions (for logs and reports; the policy reads token ids).</summary>
    public required string[] Prompts { get; init; }
    /// <summary>Where each window comes from.</summary>
    public required Window[] Windows { get; init; }

    /// <summary>Number of windows.</summary>
    public int Size => Prompts.Length;

    /// <summary>The tensors, by name (placement checks, disposal).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> Tensors => [.. Input.Tensors, ("actions", Actions), ("action_mask", ActionMask)];

    /// <summary>
    /// Copies the loader's host buffers into tensors on <paramref name="device"/> (the CPU when null), the input through the
    /// policy's <paramref name="transform"/>: on CUDA through pinned memory with non-blocking copies (<see cref="ComputeDevice.ToDevice"/>).
    /// </summary>
    public static VlaBatch FromBuffers(BatchBuffers b, PolicyTransform transform, Device? device = null)
    {
        var l = b.Layout;
        long n = b.Size;
        device ??= CPU;
        return new VlaBatch
        {
            Input = transform.ToInput(b.PolicyArrays, device),
            Actions = Move(tensor(b.Actions, [n, l.Horizon, l.PerActionDim]), device),
            ActionMask = Move(tensor(b.ActionMask, [n, l.Horizon]), device),
            Prompts = b.Prompts,
            Windows = b.Windows,
        };
    }

    private static Tensor Move(Tensor host, Device device)
    {
        var moved = ComputeDevice.ToDevice(host, device);
        if (!ReferenceEquals(moved, host)) host.Dispose();
        return moved;
    }

    /// <summary>Releases the tensors' native memory.</summary>
    public void Dispose()
    {
        foreach (var (_, t) in Tensors) t.Dispose();
    }
}
