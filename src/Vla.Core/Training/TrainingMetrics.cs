using System.Text.Json.Serialization;

namespace Vla.Training;

/// <summary>A record of <c>logs/metrics.jsonl</c>: its JSON line and the numbers TensorBoard plots.</summary>
public interface IMetricsRecord
{
    /// <summary>TensorBoard's tag prefix (<c>train</c>, <c>epoch</c>).</summary>
    string Prefix { get; }
    /// <summary>The optimizer step it was taken at (TensorBoard's x axis).</summary>
    long Step { get; }
    /// <summary>The scalars TensorBoard plots, by key.</summary>
    IEnumerable<(string Key, double Value)> Scalars();
}

/// <summary>A logged training step (<c>"type": "step"</c>, every <c>training.log_interval</c> steps).</summary>
/// <param name="Step">Optimizer steps taken.</param>
/// <param name="Epoch">The epoch (1-based).</param>
/// <param name="Loss">The step's global-batch loss.</param>
/// <param name="Lr">The learning rate it trained at.</param>
/// <param name="GradNorm">The gradient norm before clipping.</param>
/// <param name="SamplesPerSecond">Windows per second since the last logged step (a timing field).</param>
/// <param name="LossScale">Float16's loss scale, when the loss is scaled.</param>
public sealed record StepMetrics(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("lr")] double Lr,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("samples_per_s")] double SamplesPerSecond,
    [property: JsonPropertyName("loss_scale"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? LossScale = null) : IMetricsRecord
{
    /// <summary>The record's kind.</summary>
    [JsonPropertyName("type"), JsonPropertyOrder(-1)] public string Type => "step";

    /// <inheritdoc/>
    [JsonIgnore] public string Prefix => "train";

    /// <inheritdoc/>
    public IEnumerable<(string Key, double Value)> Scalars()
    {
        yield return ("loss", Loss);
        yield return ("lr", Lr);
        yield return ("grad_norm", GradNorm);
        yield return ("samples_per_s", SamplesPerSecond);
        if (LossScale is double scale) yield return ("loss_scale", scale);
    }
}

/// <summary>A finished epoch (<c>"type": "epoch"</c>): its mean training loss and, with validation data, the validation figures.</summary>
/// <param name="Step">Optimizer steps taken.</param>
/// <param name="Epoch">The epoch (1-based).</param>
/// <param name="TrainLoss">Mean loss of the epoch's batches.</param>
/// <param name="Lr">The learning rate at its end.</param>
/// <param name="Validation">The validation figures, or null without validation data.</param>
public sealed record EpochMetrics(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("train_loss")] double TrainLoss,
    [property: JsonPropertyName("lr")] double Lr,
    [property: JsonIgnore] ValidationMetrics? Validation) : IMetricsRecord
{
    /// <summary>The record's kind.</summary>
    [JsonPropertyName("type"), JsonPropertyOrder(-1)] public string Type => "epoch";

    /// <summary>Validation's flow-matching loss.</summary>
    [JsonPropertyName("val_loss"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ValLoss => Validation?.Loss;

    /// <summary>Validation's sampled-chunk MSE.</summary>
    [JsonPropertyName("val_action_mse"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ValActionMse => Validation?.ActionMse;

    /// <summary>Validation's mean-chunk baseline MSE.</summary>
    [JsonPropertyName("val_baseline_mse"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ValBaselineMse => Validation?.BaselineMse;

    /// <inheritdoc/>
    [JsonIgnore] public string Prefix => "epoch";

    /// <inheritdoc/>
    public IEnumerable<(string Key, double Value)> Scalars()
    {
        yield return ("train_loss", TrainLoss);
        yield return ("lr", Lr);
        if (Validation is null) yield break;
        yield return ("val_loss", Validation.Loss);
        yield return ("val_action_mse", Validation.ActionMse);
        yield return ("val_baseline_mse", Validation.BaselineMse);
    }
}
