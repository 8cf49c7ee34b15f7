using System.Globalization;
using System.Text.Json;
using Vla.Runtime;

namespace Vla.Training;

/// <summary>
/// A run's loss curve and per-epoch results, filled live by <see cref="Trainer"/> (through
/// <see cref="Trainer.Options.History"/>) or read back from a run's <c>logs/metrics.jsonl</c>. Notebooks
/// render it as a chart that updates while training runs; safe to read while the trainer writes.
/// </summary>
public sealed class TrainingHistory
{
    /// <summary>One optimizer step's training loss.</summary>
    public sealed record StepLoss(long Step, int Epoch, double Loss);

    /// <summary>One finished epoch: its mean training loss and, with validation data, the validation figures.</summary>
    public sealed record EpochSummary(int Epoch, long Step, double TrainLoss, ValidationMetrics? Validation);

    private readonly Lock _gate = new();
    private readonly List<StepLoss> _steps = [];
    private readonly List<EpochSummary> _epochs = [];

    /// <summary>Raised after every addition (on the trainer's thread).</summary>
    public event Action<TrainingHistory>? Changed;

    /// <summary>A copy of the step losses so far.</summary>
    public IReadOnlyList<StepLoss> Steps { get { lock (_gate) return _steps.ToArray(); } }

    /// <summary>A copy of the finished epochs so far.</summary>
    public IReadOnlyList<EpochSummary> Epochs { get { lock (_gate) return _epochs.ToArray(); } }

    /// <summary>Records a step's loss.</summary>
    public void Add(StepLoss step)
    {
        lock (_gate) _steps.Add(step);
        Changed?.Invoke(this);
    }

    /// <summary>Records a finished epoch.</summary>
    public void Add(EpochSummary epoch)
    {
        lock (_gate) _epochs.Add(epoch);
        Changed?.Invoke(this);
    }

    /// <summary>Reads <c>logs/metrics.jsonl</c> of the run in <paramref name="experimentDir"/> (steps at the run's log interval).</summary>
    public static TrainingHistory Load(string experimentDir)
    {
        string path = Path.Combine(experimentDir, "logs", "metrics.jsonl");
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file (is '{experimentDir}' a training run's folder?).");
        var history = new TrainingHistory();
        // A run still training may be mid-way through writing its last line: read only finished lines.
        string text;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        using (var reader = new StreamReader(stream))
            text = reader.ReadToEnd();
        var lines = text.Split('\n');
        int lineNumber = 0;
        foreach (string line in lines.Take(lines.Length - 1))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                var r = json.RootElement;
                string type = r.GetProperty("type").GetString() ?? "";
                long step = r.GetProperty("step").GetInt64();
                int epoch = r.GetProperty("epoch").GetInt32();
                if (type == "step") history._steps.Add(new StepLoss(step, epoch, r.GetProperty("loss").GetDouble()));
                else if (type == "epoch")
                {
                    var validation = r.TryGetProperty("val_loss", out var valLoss)
                        ? new ValidationMetrics(valLoss.GetDouble(), r.GetProperty("val_action_mse").GetDouble(), r.GetProperty("val_baseline_mse").GetDouble())
                        : null;
                    history._epochs.Add(new EpochSummary(epoch, step, r.GetProperty("train_loss").GetDouble(), validation));
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new BadInputException($"{path}, line {lineNumber.ToString(CultureInfo.InvariantCulture)}: not a metrics record ({e.Message}).");
            }
        }
        return history;
    }
}
