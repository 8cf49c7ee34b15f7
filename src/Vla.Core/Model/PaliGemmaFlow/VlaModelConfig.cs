using Vla.Config;
using Vla.Runtime;

namespace Vla.Model.PaliGemmaFlow;

/// <summary>
/// The shape and hyperparameters of a <see cref="VlaModel"/> (openpi's <c>Pi0Config</c> for this family), taken from the run
/// config's <c>model</c> and <c>data</c> sections once (<see cref="From"/>), so the model never reads the run config. Two
/// configs are equal when every keyed value is, which is what resuming a checkpoint requires.
/// </summary>
public sealed record VlaModelConfig
{
    /// <summary>Feed the wrist camera as a second image.</summary>
    [ConfigKey("model.vlm_config.use_aux_camera")] public required bool UseAuxCamera { get; init; }
    /// <summary>Side of the square images (the vision tower's input size).</summary>
    [ConfigKey("data.image_size")] public required int ImageSize { get; init; }
    /// <summary>Image tokens per camera (the backbone's, checked by <see cref="CheckFits"/>).</summary>
    [ConfigKey("model.vlm_config.num_image_tokens")] public required int NumImageTokens { get; init; }
    /// <summary>Longest prompt in tokens (BOS and "\n" included); longer ones are cut.</summary>
    [ConfigKey("data.prompt_max_len")] public required int PromptMaxLength { get; init; }
    /// <summary>Robot state values.</summary>
    [ConfigKey("data.state_dim")] public required int StateDim { get; init; }
    /// <summary>Add a token made from the normalized state to the head's context.</summary>
    [ConfigKey("model.action_head_config.use_state_input")] public required bool UseStateInput { get; init; }
    /// <summary>The context projector's output width (the head's context width).</summary>
    [ConfigKey("model.vision_resampler_config.output_dim")] public required int ContextDim { get; init; }
    /// <summary>Action steps in a chunk.</summary>
    [ConfigKey("model.action_head_config.horizon")] public required int Horizon { get; init; }
    /// <summary>Values per action step.</summary>
    [ConfigKey("model.action_head_config.per_action_dim")] public required int PerActionDim { get; init; }
    /// <summary>Width of the head's tokens.</summary>
    [ConfigKey("model.action_head_config.hidden_dim")] public required int HiddenDim { get; init; }
    /// <summary>The head's blocks.</summary>
    [ConfigKey("model.action_head_config.num_layers")] public required int NumLayers { get; init; }
    /// <summary>The head's attention heads.</summary>
    [ConfigKey("model.action_head_config.num_heads")] public required int NumHeads { get; init; }
    /// <summary>Hidden sizes of the action and state encoder MLPs.</summary>
    [ConfigKey("model.action_head_config.mlp_hidden_dims")] public required IReadOnlyList<int> MlpHiddenDims { get; init; }
    /// <summary>Dropout inside the head's blocks.</summary>
    [ConfigKey("model.action_head_config.dropout_prob")] public required double DropoutProb { get; init; }
    /// <summary>Euler steps a chunk takes by default.</summary>
    [ConfigKey("model.action_head_config.num_inference_steps")] public required int NumInferenceSteps { get; init; }
    /// <summary>The backbone's storage and compute dtype (<c>float32</c>, <c>bfloat16</c>, <c>float16</c>).</summary>
    [ConfigKey("model.vlm_config.dtype")] public required string Dtype { get; init; }
    /// <summary>Keep the SigLIP tower's weights fixed.</summary>
    [ConfigKey("model.vlm_config.freeze_vision_tower")] public required bool FreezeVisionTower { get; init; }
    /// <summary>Keep the Gemma decoder's weights fixed.</summary>
    [ConfigKey("model.vlm_config.freeze_language_model")] public required bool FreezeLanguageModel { get; init; }
    /// <summary>LoRA adapters' rank (0: none).</summary>
    [ConfigKey("model.lora.rank")] public required int LoraRank { get; init; }
    /// <summary>LoRA's scaling numerator.</summary>
    [ConfigKey("model.lora.alpha")] public required double LoraAlpha { get; init; }
    /// <summary>Dropout on the adapters' input.</summary>
    [ConfigKey("model.lora.dropout")] public required double LoraDropout { get; init; }
    /// <summary>The projections that get adapters.</summary>
    [ConfigKey("model.lora.target_modules", Unordered = true)] public required IReadOnlyList<string> LoraTargets { get; init; }

    /// <summary>The adapters as <see cref="LoraAdapters"/> takes them.</summary>
    public LoraConfig Lora => new() { Rank = LoraRank, Alpha = LoraAlpha, Dropout = LoraDropout, TargetModules = [.. LoraTargets] };

    /// <summary>Cameras read: the main one, and the wrist one with <see cref="UseAuxCamera"/>.</summary>
    public int Cameras => UseAuxCamera ? 2 : 1;

    /// <summary>The model config a run configuration describes.</summary>
    public static VlaModelConfig From(VlaConfig config)
    {
        var m = config.Model;
        var head = m.ActionHeadConfig;
        return new VlaModelConfig
        {
            UseAuxCamera = m.VlmConfig.UseAuxCamera, ImageSize = config.Data.ImageSize, NumImageTokens = m.VlmConfig.NumImageTokens,
            PromptMaxLength = config.Data.PromptMaxLen, StateDim = config.Data.StateDim, UseStateInput = head.UseStateInput,
            ContextDim = m.VisionResamplerConfig.OutputDim, Horizon = head.Horizon, PerActionDim = head.PerActionDim, HiddenDim = head.HiddenDim,
            NumLayers = head.NumLayers, NumHeads = head.NumHeads, MlpHiddenDims = [.. head.MlpHiddenDims], DropoutProb = head.DropoutProb,
            NumInferenceSteps = head.NumInferenceSteps, Dtype = ConfigValidator.NormalizeDtype(m.VlmConfig.Dtype),
            FreezeVisionTower = m.VlmConfig.FreezeVisionTower, FreezeLanguageModel = m.VlmConfig.FreezeLanguageModel,
            LoraRank = m.Lora.Rank, LoraAlpha = m.Lora.Alpha, LoraDropout = m.Lora.Dropout, LoraTargets = [.. m.Lora.TargetModules],
        };
    }

    /// <summary>The head's part, as <see cref="FlowMatchingHead"/> takes it.</summary>
    public ActionHeadConfig Head => new()
    {
        UseStateInput = UseStateInput, Horizon = Horizon, PerActionDim = PerActionDim, ActionDim = Horizon * PerActionDim, MlpHiddenDims = [.. MlpHiddenDims],
        DropoutProb = DropoutProb, HiddenDim = HiddenDim, NumLayers = NumLayers, NumHeads = NumHeads, NumInferenceSteps = NumInferenceSteps,
    };

    /// <summary>What a model of this config reads and predicts.</summary>
    public PolicySpec Spec => new()
    {
        Family = VlaModel.Family, Cameras = Cameras, ImageSize = ImageSize, StateDim = StateDim, ReadsState = UseStateInput,
        Horizon = Horizon, ActionDim = PerActionDim, NumInferenceSteps = NumInferenceSteps, Dtype = Dtype,
    };

    /// <summary>Throws when the image layout does not fit <paramref name="backbone"/>.</summary>
    public void CheckFits(PaliGemmaConfig backbone)
    {
        if (ImageSize != backbone.Vision.ImageSize)
            throw new BadInputException($"data.image_size is {ImageSize} but the vision tower takes {backbone.Vision.ImageSize} px images.");
        if (NumImageTokens != backbone.NumImageTokens)
            throw new BadInputException($"model.vlm_config.num_image_tokens is {NumImageTokens} but the backbone makes {backbone.NumImageTokens} per image.");
    }

    /// <summary>Equal when every keyed value is (lists by value; LoRA targets as a set).</summary>
    public bool Equals(VlaModelConfig? other) => other is not null && ConfigKeys.Differences(this, other).Count == 0;

    /// <inheritdoc/>
    public override int GetHashCode() => ConfigKeys.Hash(this);
}
