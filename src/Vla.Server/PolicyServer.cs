using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vla.Client;
using Vla.Inference;
using Vla.Runtime;

namespace Vla.Server;

/// <summary>
/// Serves a policy on openpi's protocol over Kestrel: <c>GET /healthz</c> answers <c>OK</c>; a WebSocket on <c>/</c> is a
/// <see cref="PolicySession"/> that first receives the policy's <see cref="ServerMetadata"/>, then one reply per binary msgpack
/// observation (<see cref="OpenPiProtocol"/>); requests from every connection are batched by one <see cref="MicroBatcher"/>.
/// An api key, when set, is checked before the upgrade (<see cref="ApiKeyMiddleware"/>).
/// </summary>
public sealed class PolicyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MicroBatcher _batcher;
    private readonly OpenPiProtocol _protocol;
    private readonly byte[] _metadata;
    private readonly long _maxBytes;
    private readonly CancellationTokenSource _stopping = new();
    private int _connections;

    /// <summary>The policy served.</summary>
    public VlaPredictor Predictor { get; }

    /// <summary>The map sent to every client on connect.</summary>
    public IReadOnlyDictionary<string, object?> Metadata { get; }

    /// <summary>The WebSocket address clients connect to (known once started).</summary>
    public Uri Uri { get; private set; } = new("ws://127.0.0.1/");

    /// <summary>Open WebSocket connections.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The model calls and requests answered.</summary>
    public (long Batches, long Requests) Served => (_batcher.Batches, _batcher.Requests);

    /// <summary>Builds the server for <paramref name="predictor"/> (not yet listening; see <see cref="StartAsync"/>).</summary>
    public PolicyServer(VlaPredictor predictor, ServerOptions options)
    {
        if (options.MaxMessageMb <= 0) throw new BadInputException($"ServerOptions.MaxMessageMb is {options.MaxMessageMb}; it must be positive.");
        if (!IPAddress.TryParse(options.Host == "localhost" ? "127.0.0.1" : options.Host, out var address))
            throw new BadInputException($"ServerOptions.Host '{options.Host}' is not an IP address (use 127.0.0.1, 0.0.0.0 or an interface's address).");
        Predictor = predictor;
        var spec = predictor.Spec;
        int stateDim = spec.ReadsState ? spec.StateDim : 0;
        _protocol = new OpenPiProtocol(new ObservationReader(stateDim, spec.Cameras, spec.MasksMissingCameras, spec.ActionDim, spec.Horizon, options.Layout), options.Wording);
        _maxBytes = (long)(options.MaxMessageMb * 1024 * 1024);
        _batcher = new MicroBatcher(predictor, options.Steps, options.MaxBatch, TimeSpan.FromMilliseconds(options.BatchWindowMs), () => Connections);
        Metadata = ServerMetadata.For(predictor, options, stateDim);
        _metadata = OpenPiMsgpack.Pack(Metadata);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(address, options.Port);
            kestrel.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        _app = builder.Build();
        _app.UseMiddleware<ApiKeyMiddleware>(options.ApiKey ?? "");
        _app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
        _app.MapGet("/healthz", () => Results.Text("OK\n"));
        _app.Map("/", ServeAsync);
    }

    /// <summary>Starts listening; <see cref="Uri"/> then holds the bound address.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        await _app.StartAsync(ct);
        string bound = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Uri = new Uri(bound.Replace("http://", "ws://", StringComparison.Ordinal).TrimEnd('/') + "/");
    }

    /// <summary>Stops accepting, lets requests in flight finish and be answered, then closes every connection.</summary>
    public async Task StopAsync()
    {
        _stopping.Cancel();
        await _app.StopAsync();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await StopAsync();
        await _batcher.DisposeAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private async Task ServeAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("This is a policy server: connect with a WebSocket (openpi's protocol); GET /healthz checks it is up.\n");
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { DangerousEnableCompression = false });
        Interlocked.Increment(ref _connections);
        try
        {
            using var session = new PolicySession(socket, _protocol, _batcher, _maxBytes, _stopping.Token);
            await session.RunAsync(_metadata);
        }
        catch (WebSocketException)
        {
            // The client went away mid-message; nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    }
}
