using System.Text.Json;

namespace Vla.Inference;

/// <summary>A predicted chunk of actions in the data's own units: <see cref="Horizon"/> steps of <see cref="PerActionDim"/> values.</summary>
/// <param name="Values">Row-major (horizon, per_action_dim).</param>
/// <param name="Horizon">Steps.</param>
/// <param name="PerActionDim">Values per step.</param>
public sealed record ActionChunk(float[] Values, int Horizon, int PerActionDim)
{
    /// <summary>The value of dimension <paramref name="dim"/> at step <paramref name="step"/>.</summary>
    public float this[int step, int dim] => Values[step * PerActionDim + dim];

    /// <summary>One array per step.</summary>
    public float[][] Steps => Enumerable.Range(0, Horizon).Select(h => Values.AsSpan(h * PerActionDim, PerActionDim).ToArray()).ToArray();

    /// <summary><c>{"actions": [[...], ...], "horizon": H, "per_action_dim": D}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["actions"] = Steps, ["horizon"] = Horizon, ["per_action_dim"] = PerActionDim,
    }, new JsonSerializerOptions { WriteIndented = true });
}
