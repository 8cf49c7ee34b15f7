using System.Runtime.InteropServices;

namespace Vla.Cli;

/// <summary>
/// Turns SIGTERM (Slurm preemption, <c>kill</c>), SIGINT (Ctrl-C) and SIGUSR1 (what mpirun forwards to its ranks) into a
/// request to stop after the current training step; the same signal again more than a second later stops at once.
/// </summary>
internal sealed class Preemption : IDisposable
{
    private const int SigUsr1 = 10; // Linux
    private readonly CancellationTokenSource _requested = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private DateTime _first;

    /// <summary>Cancelled when a stop is requested.</summary>
    public CancellationToken Token => _requested.Token;

    /// <summary>Starts listening; <paramref name="announce"/> is told once, when the first signal arrives.</summary>
    public Preemption(Action<string> announce)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, (PosixSignal)SigUsr1 })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                if (!_requested.IsCancellationRequested)
                {
                    _first = DateTime.UtcNow;
                    context.Cancel = true; // keep running until the step ends
                    string name = (int)context.Signal == SigUsr1 ? "SIGUSR1 (forwarded by mpirun)" : context.Signal.ToString();
                    announce($"{name}: stopping after the current step (signal again to stop at once)");
                    _requested.Cancel();
                }
                else context.Cancel = DateTime.UtcNow - _first < TimeSpan.FromSeconds(1); // a launcher's forwarded copy of the same stop
            }));
        }
    }

    /// <summary>Stops listening.</summary>
    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _requested.Dispose();
    }
}
