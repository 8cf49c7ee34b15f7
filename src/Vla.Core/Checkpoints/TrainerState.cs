using System.Text.Json;
using System.Text.Json.Serialization;
using Vla.Data;
using Vla.Runtime;

namespace Vla.Checkpoints;

/// <summary>Everything besides the weights that a checkpoint needs to resume training or serve inference (<c>trainer_state.json</c>).</summary>
public sealed record TrainerState
{
    /// <summary>The last epoch trained in: complete, unless <see cref="BatchesInEpoch"/> says the run stopped inside it.</summary>
    [JsonPropertyName("epoch")] public int Epoch { get; init; }
    /// <summary>Batches of <see cref="Epoch"/> trained when the run stopped inside it (<c>training.max_steps</c>); 0 for a complete epoch. Resuming continues with the next batch.</summary>
    [JsonPropertyName("batches_in_epoch")] public int BatchesInEpoch { get; init; }
    /// <summary>The sum of those batches' losses, so the epoch's mean loss continues where it stopped.</summary>
    [JsonPropertyName("epoch_loss_sum")] public double EpochLossSum { get; init; }
    /// <summary>Optimizer steps taken.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }
    /// <summary>Learning rate after the last step.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; }
    /// <summary>Best validation loss so far (NaN when there is no validation data).</summary>
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    /// <summary>The flow noise/time generator's state, base64.</summary>
    [JsonPropertyName("rng_state")] public string RngState { get; init; } = "";
    /// <summary>The run configuration, as YAML.</summary>
    [JsonPropertyName("config_yaml")] public string ConfigYaml { get; init; } = "";
    /// <summary>The normalization statistics the model was trained with.</summary>
    [JsonPropertyName("normalization_stats")] public required NormalizationStats NormalizationStats { get; init; }
    /// <summary>Library versions that wrote the checkpoint.</summary>
    [JsonPropertyName("versions")] public Dictionary<string, string> Versions { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Serializes to JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <c>trainer_state.json</c>, naming the file on failure.</summary>
    public static TrainerState Load(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path} is missing; is this a checkpoint folder?");
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), Json)
                ?? throw new BadInputException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new BadInputException($"{path}: not a trainer state file ({e.Message.TrimEnd('.')}).", e);
        }
    }
}
