using TorchSharp;
using static TorchSharp.torch;

namespace Vla.Data;

/// <summary>
/// One batch as TorchSharp tensors. It owns its tensors: dispose it (or let the enclosing dispose scope
/// do so) once the step that used it is done.
/// </summary>
public sealed class VlaBatch : IDisposable
{
    /// <summary>(B, T, cameras, 3, H, W) float32 in [-1, 1].</summary>
    public required Tensor Images { get; init; }
    /// <summary>(B, T) bool: true for real observations.</summary>
    public required Tensor ObservationMask { get; init; }
    /// <summary>(B, state_dim) float32, normalized.</summary>
    public required Tensor State { get; init; }
    /// <summary>(B, horizon, per_action_dim) float32, normalized.</summary>
    public required Tensor Actions { get; init; }
    /// <summary>(B, horizon) bool: true for chunk steps inside the episode.</summary>
    public required Tensor ActionMask { get; init; }
    /// <summary>The raw instructions (tokenized by the model).</summary>
    public required string[] Prompts { get; init; }
    /// <summary>Where each window comes from.</summary>
    public required Window[] Windows { get; init; }

    /// <summary>Number of windows.</summary>
    public int Size => Prompts.Length;

    /// <summary>Copies the buffers into new tensors on <paramref name="device"/> (CPU when null).</summary>
    public static VlaBatch FromBuffers(BatchBuffers b, Device? device = null)
    {
        var l = b.Layout;
        long n = b.Size;
        return new VlaBatch
        {
            Images = Move(tensor(b.Images, [n, l.MaxSeqLen, l.Cameras, 3, l.ImageSize, l.ImageSize]), device),
            ObservationMask = Move(tensor(b.ObservationMask, [n, l.MaxSeqLen]), device),
            State = Move(tensor(b.State, [n, l.StateDim]), device),
            Actions = Move(tensor(b.Actions, [n, l.Horizon, l.PerActionDim]), device),
            ActionMask = Move(tensor(b.ActionMask, [n, l.Horizon]), device),
            Prompts = b.Prompts,
            Windows = b.Windows,
        };
    }

    private static Tensor Move(Tensor t, Device? device)
    {
        if (device is null || device.type == DeviceType.CPU) return t;
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    /// <summary>Releases the tensors' native memory.</summary>
    public void Dispose()
    {
        Images.Dispose();
        ObservationMask.Dispose();
        State.Dispose();
        Actions.Dispose();
        ActionMask.Dispose();
    }
}
