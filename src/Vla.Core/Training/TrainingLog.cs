using System.Globalization;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;

namespace Vla.Training;

/// <summary>
/// A run's records: <c>logs/train.log</c> (human lines), <c>logs/metrics.jsonl</c> (one JSON object per
/// logged step and per epoch) and TensorBoard event files in <c>tensorboard/</c>.
/// </summary>
public sealed class TrainingLog : IDisposable
{
    private readonly StreamWriter? _text;
    private readonly StreamWriter? _metrics;
    private readonly SummaryWriter? _tensorboard;

    private readonly Func<string, string> _wording;

    /// <summary>
    /// Opens (appending) the logs under <paramref name="experimentDir"/>; with null, records nothing (ranks other than 0).
    /// Each line is worded by <paramref name="wording"/> (<see cref="Trainer.Options.Wording"/>) when given.
    /// </summary>
    public TrainingLog(string? experimentDir, Func<string, string>? wording = null)
    {
        _wording = wording ?? (line => line);
        if (experimentDir is null) return;
        string logs = Path.Combine(experimentDir, "logs");
        Directory.CreateDirectory(logs);
        _text = new StreamWriter(Path.Combine(logs, "train.log"), append: true) { AutoFlush = true };
        _metrics = new StreamWriter(Path.Combine(logs, "metrics.jsonl"), append: true) { AutoFlush = true };
        _tensorboard = torch.utils.tensorboard.SummaryWriter(Path.Combine(experimentDir, "tensorboard"));
    }

    /// <summary>Raised for every line written to train.log (the command line shows them).</summary>
    public event Action<string>? Line;

    /// <summary>Writes a timestamped line to train.log.</summary>
    public void Info(string message)
    {
        message = _wording(message);
        string line = $"{DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} {message}";
        _text?.WriteLine(line);
        Line?.Invoke(message);
    }

    /// <summary>Appends <paramref name="record"/> to metrics.jsonl and sends its scalars to TensorBoard.</summary>
    public void Write<T>(T record) where T : IMetricsRecord
    {
        if (_metrics is null || _tensorboard is null) return;
        _metrics.WriteLine(JsonSerializer.Serialize(record));
        foreach (var (key, value) in record.Scalars())
            _tensorboard.add_scalar($"{record.Prefix}/{key}", (float)value, (int)record.Step);
    }

    /// <summary>Flushes and closes the files.</summary>
    public void Dispose()
    {
        _text?.Dispose();
        _metrics?.Dispose();
    }
}
