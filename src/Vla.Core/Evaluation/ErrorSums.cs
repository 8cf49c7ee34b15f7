using System.Text.Json.Serialization;

namespace Vla.Evaluation;

/// <summary>Running sums of squared and absolute errors over a set of values.</summary>
public sealed class ErrorSums
{
    private double _squared, _absolute;

    /// <summary>Values counted.</summary>
    public long Count { get; private set; }

    /// <summary>Adds one error (prediction − truth).</summary>
    public void Add(double error)
    {
        _squared += error * error;
        _absolute += Math.Abs(error);
        Count++;
    }

    /// <summary>Adds everything another accumulator counted.</summary>
    public void Add(ErrorSums other)
    {
        _squared += other._squared;
        _absolute += other._absolute;
        Count += other.Count;
    }

    /// <summary>Mean squared error (NaN when empty).</summary>
    [JsonIgnore] public double Mse => Count == 0 ? double.NaN : _squared / Count;

    /// <summary>Mean absolute error (NaN when empty).</summary>
    [JsonIgnore] public double Mae => Count == 0 ? double.NaN : _absolute / Count;
}
