namespace Vla.Server;

/// <summary>How <see cref="PolicyServer"/> listens and batches.</summary>
/// <param name="Host">Address to bind (loopback by default; 0.0.0.0 for every interface).</param>
/// <param name="Port">TCP port (0: any free port, see <see cref="PolicyServer.Uri"/>).</param>
/// <param name="ApiKey">When set, connections must send <c>Authorization: Api-Key KEY</c> (openpi's header).</param>
/// <param name="Steps">Euler steps per chunk (null: the policy's).</param>
/// <param name="MaxBatch">Most requests per model call.</param>
/// <param name="BatchWindowMs">How long a request waits for others to batch with (0: no batching).</param>
/// <param name="MaxMessageMb">Largest message accepted, in MiB.</param>
/// <param name="Layout">A fixed observation layout (an observation map), or null to recognise openpi's and ours.</param>
/// <param name="Wording">
/// How the error texts sent to clients name the server's settings: they name these members (<c>ServerOptions.Layout</c>); a host
/// puts its own names in their place (the command line its flags). As written when null.
/// </param>
public sealed record ServerOptions(string Host = "127.0.0.1", int Port = 8000, string? ApiKey = null, int? Steps = null, int MaxBatch = 8,
    double BatchWindowMs = 5, double MaxMessageMb = 64, ObservationLayout? Layout = null, Func<string, string>? Wording = null);
