using System.Globalization;

namespace Vla.Training;

/// <summary>
/// Dynamic loss scaling for float16 training, as <c>torch.cuda.amp.GradScaler</c>: the loss is multiplied by the scale
/// before backward so small gradients survive float16; a step whose gradients overflow is skipped and the scale backs
/// off; after <see cref="GrowthInterval"/> clean steps it grows. Off (a scale of 1) for every other dtype.
/// </summary>
public sealed class LossScaler
{
    /// <summary>Float16's first loss scale, its growth after <see cref="GrowthInterval"/> clean steps, and its back-off on overflow.</summary>
    public const double InitialScale = 65536, GrowthFactor = 2, BackoffFactor = 0.5;
    /// <summary>Clean float16 steps before the loss scale grows.</summary>
    public const int GrowthInterval = 2000;

    private int _cleanSteps;

    /// <summary>A scaler that scales (<paramref name="enabled"/>) or leaves the loss as it is.</summary>
    public LossScaler(bool enabled)
    {
        Enabled = enabled;
        Scale = enabled ? InitialScale : 1;
    }

    /// <summary>True when the loss is scaled (float16 in the gradients' path).</summary>
    public bool Enabled { get; }

    /// <summary>The current scale (1 when not <see cref="Enabled"/>).</summary>
    public double Scale { get; private set; }

    /// <summary>After a step: backs off when its gradients <paramref name="overflowed"/>, grows after enough clean ones.</summary>
    public void Update(bool overflowed)
    {
        if (!Enabled) return;
        if (overflowed) { Scale *= BackoffFactor; _cleanSteps = 0; }
        else if (++_cleanSteps >= GrowthInterval) { Scale *= GrowthFactor; _cleanSteps = 0; }
    }

    /// <summary>The state a checkpoint keeps (safetensors metadata).</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["loss_scale"] = Scale.ToString("R", CultureInfo.InvariantCulture), ["clean_steps"] = _cleanSteps.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Restores what <see cref="ToMetadata"/> wrote; missing keys leave the scaler as it is.</summary>
    public void Restore(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.TryGetValue("loss_scale", out var scale)) Scale = double.Parse(scale, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue("clean_steps", out var clean)) _cleanSteps = int.Parse(clean, CultureInfo.InvariantCulture);
    }
}
