using static TorchSharp.torch;

namespace Vla.Model;

/// <summary>Integrates a flow from t = 1 (noise) to t = 0 (data) with fixed Euler steps.</summary>
public static class EulerIntegrator
{
    /// <summary>
    /// x ← x + dt · v(x, t) for t = 1, 1 − 1/steps, …, 1/steps, with dt = −1/steps. <paramref name="velocity"/>
    /// gets x and the time as a (B) tensor. Each step runs in its own dispose scope.
    /// </summary>
    public static Tensor Integrate(Func<Tensor, Tensor, Tensor> velocity, Tensor noise, int steps) =>
        Integrate((x, time, _) => velocity(x, time), noise, steps);

    /// <summary>As <see cref="Integrate(Func{Tensor, Tensor, Tensor}, Tensor, int)"/>; <paramref name="velocity"/> also gets the time as a number.</summary>
    public static Tensor Integrate(Func<Tensor, Tensor, double, Tensor> velocity, Tensor noise, int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "At least one Euler step is needed.");
        using var scope = NewDisposeScope();
        double dt = -1.0 / steps;
        var times = Times(steps);
        var x = noise.alias();
        for (int i = 0; i < steps; i++)
        {
            using var step = NewDisposeScope();
            double t = times[i];
            var time = full([noise.shape[0]], t, noise.dtype, noise.device);
            var next = (x + dt * velocity(x, time, t)).MoveToOuterDisposeScope();
            x.Dispose();
            x = next;
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The times the velocity is evaluated at, in order: 1, 1 − 1/steps, …, 1/steps (exactly the values passed to it).</summary>
    public static double[] Times(int steps) => Enumerable.Range(0, steps).Select(i => 1.0 + i * (-1.0 / steps)).ToArray();
}
