using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>
/// A policy the trainer trains (on top of sampling): its unreduced flow-matching loss with injected noise and time, its
/// parameters, a training step's dropout masks and recomputation, and saving itself.
/// </summary>
public interface ITrainablePolicy : ISamplingPolicy
{
    /// <summary>The module holding its parameters (train/eval modes, optimizers, device moves).</summary>
    nn.Module Module { get; }

    /// <summary>
    /// The loss per chunk step, unreduced (B, horizon), in float32, for the target <paramref name="actions"/> (B, horizon,
    /// action_dim) at flow times <paramref name="time"/> (B) with noise <paramref name="noise"/>. The trainer masks padded
    /// steps and reduces, as openpi's <c>compute_loss</c> leaves it to the trainer.
    /// </summary>
    Tensor ComputeLoss(PolicyInput input, Tensor actions, Tensor noise, Tensor time);

    /// <summary>
    /// Marks a training step's forward and backward: dropout draws <paramref name="masks"/> until disposed, and disposing
    /// frees what recomputed layers handed back to the backward pass.
    /// </summary>
    IDisposable EnterTrainingStep(DropoutMasks.Source masks);

    /// <summary>Recompute layer activations during backward instead of keeping them (<c>training.gradient_checkpointing</c>).</summary>
    bool GradientCheckpointing { get; set; }

    /// <summary>Writes what loading it back needs (weights, adapters, tokenizer, a reference to frozen base weights) into <paramref name="folder"/>.</summary>
    void Save(string folder);
}
