using TorchSharp;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Data;

/// <summary>
/// One batch as TorchSharp tensors on the run's device. It owns its tensors: dispose it (or let the
/// enclosing dispose scope do so) once the step that used it is done.
/// </summary>
public sealed class VlaBatch : IDisposable
{
    /// <summary>(B, cameras, 3, H, W) float32 in [-1, 1]: each window's current frame.</summary>
    public required Tensor Images { get; init; }
    /// <summary>(B, L) int64: BOS + prompt + "\n", right-padded.</summary>
    public required Tensor TokenIds { get; init; }
    /// <summary>(B, L) bool: true for real tokens.</summary>
    public required Tensor TokenMask { get; init; }
    /// <summary>(B, state_dim) float32, normalized.</summary>
    public required Tensor State { get; init; }
    /// <summary>(B, horizon, per_action_dim) float32, normalized.</summary>
    public required Tensor Actions { get; init; }
    /// <summary>(B, horizon) bool: true for chunk steps inside the episode.</summary>
    public required Tensor ActionMask { get; init; }
    /// <summary>The raw instructions (for logs and reports; the model reads <see cref="TokenIds"/>).</summary>
    public required string[] Prompts { get; init; }
    /// <summary>Where each window comes from.</summary>
    public required Window[] Windows { get; init; }

    /// <summary>Number of windows.</summary>
    public int Size => Prompts.Length;

    /// <summary>The tensors, by name (placement checks, disposal).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> Tensors =>
        [("images", Images), ("token_ids", TokenIds), ("token_mask", TokenMask), ("state", State), ("actions", Actions), ("action_mask", ActionMask)];

    /// <summary>
    /// Copies the loader's host buffers into tensors on <paramref name="device"/> (the CPU when null): on
    /// CUDA through pinned memory with non-blocking copies (<see cref="ComputeDevice.ToDevice"/>).
    /// </summary>
    public static VlaBatch FromBuffers(BatchBuffers b, Device? device = null)
    {
        var l = b.Layout;
        long n = b.Size;
        var tokens = b.Tokens ?? new PromptTokens([], [], 0);
        device ??= CPU;
        return new VlaBatch
        {
            Images = Move(tensor(b.Images, [n, l.Cameras, 3, l.ImageSize, l.ImageSize]), device),
            TokenIds = Move(tensor(tokens.Ids, [n, tokens.Length]), device),
            TokenMask = Move(tensor(tokens.Mask, [n, tokens.Length]), device),
            State = Move(tensor(b.State, [n, l.StateDim]), device),
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
