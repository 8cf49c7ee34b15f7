using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
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

/// <summary>How <see cref="PolicyServer"/> listens and batches.</summary>
/// <param name="Host">Address to bind (loopback by default; 0.0.0.0 for every interface).</param>
/// <param name="Port">TCP port (0: any free port, see <see cref="PolicyServer.Uri"/>).</param>
/// <param name="ApiKey">When set, connections must send <c>Authorization: Api-Key KEY</c> (openpi's header).</param>
/// <param name="Steps">Euler steps per chunk (null: the checkpoint's).</param>
/// <param name="MaxBatch">Most requests per model call.</param>
/// <param name="BatchWindowMs">How long a request waits for others to batch with (0: no batching).</param>
/// <param name="MaxMessageMb">Largest message accepted, in MiB.</param>
/// <param name="Layout">A fixed observation layout (<c>--obs-map</c>), or null to recognise openpi's and ours.</param>
public sealed record ServerOptions(string Host = "127.0.0.1", int Port = 8000, string? ApiKey = null, int? Steps = null, int MaxBatch = 8,
    double BatchWindowMs = 5, double MaxMessageMb = 64, ObservationLayout? Layout = null);

/// <summary>
/// Serves a policy on openpi's protocol over Kestrel: <c>GET /healthz</c> answers <c>OK</c>; a WebSocket on <c>/</c> first
/// receives the policy's metadata, then one reply per binary msgpack observation: <c>{"actions": float32 (horizon, dim),
/// "server_timing": {"infer_ms", "prev_total_ms"}}</c>. Errors are one-sentence text frames and the connection stays open.
/// Nothing read from the wire names a type or runs code (<see cref="OpenPiMsgpack"/>).
/// </summary>
public sealed class PolicyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly InferenceQueue _queue;
    private readonly ObservationReader _reader;
    private readonly byte[]? _keyHash;
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
    public (long Batches, long Requests) Served => (_queue.Batches, _queue.Requests);

    /// <summary>Builds the server for <paramref name="predictor"/> (not yet listening; see <see cref="StartAsync"/>).</summary>
    public PolicyServer(VlaPredictor predictor, ServerOptions options)
    {
        if (options.MaxMessageMb <= 0) throw new BadInputException($"--max-message-mb is {options.MaxMessageMb}; it must be positive.");
        if (!IPAddress.TryParse(options.Host == "localhost" ? "127.0.0.1" : options.Host, out var address))
            throw new BadInputException($"--host '{options.Host}' is not an IP address (use 127.0.0.1, 0.0.0.0 or an interface's address).");
        Predictor = predictor;
        var spec = predictor.Spec;
        int stateDim = spec.ReadsState ? spec.StateDim : 0;
        _reader = new ObservationReader(stateDim, spec.Cameras == 2, spec.ActionDim, spec.Horizon, options.Layout);
        _maxBytes = (long)(options.MaxMessageMb * 1024 * 1024);
        _keyHash = string.IsNullOrEmpty(options.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));
        _queue = new InferenceQueue(predictor, options.Steps, options.MaxBatch, TimeSpan.FromMilliseconds(options.BatchWindowMs), () => Connections);
        Metadata = MetadataOf(predictor, options, stateDim);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(address, options.Port);
            kestrel.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            if (context.Request.Path != "/healthz" && !Authorized(context.Request))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await context.Response.WriteAsync("Missing or wrong api key: send the header 'Authorization: Api-Key KEY'.\n");
                return;
            }
            await next(context);
        });
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
        await _queue.DisposeAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private bool Authorized(HttpRequest request)
    {
        if (_keyHash is null) return true;
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Api-Key ";
        string given = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _keyHash);
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
            await ConverseAsync(socket);
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

    private async Task ConverseAsync(WebSocket socket)
    {
        using var connection = new Connection(socket);
        // On shutdown an idle connection is closed at once; a busy one after its reply (see Connection).
        using var onStop = _stopping.Token.Register(() => _ = connection.CloseIfIdleAsync());
        await connection.SendAsync(OpenPiMsgpack.Pack(Metadata), WebSocketMessageType.Binary);
        var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        double? previousTotal = null;
        while (true)
        {
            // Receive one whole message, refusing it once it outgrows the limit.
            buffer.SetLength(0);
            WebSocketReceiveResult received;
            try
            {
                do
                {
                    received = await socket.ReceiveAsync(chunk, connection.ReceiveCancel);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        await connection.CloseAsync(WebSocketCloseStatus.NormalClosure, null);
                        return;
                    }
                    buffer.Write(chunk, 0, received.Count);
                    if (buffer.Length > _maxBytes)
                    {
                        await connection.SendAsync(Encoding.UTF8.GetBytes(
                            $"The message exceeds the server's limit of {_maxBytes / (1024.0 * 1024):0.##} MiB (--max-message-mb); the connection is closed."), WebSocketMessageType.Text);
                        await connection.CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too big");
                        break;
                    }
                } while (!received.EndOfMessage);
            }
            catch (OperationCanceledException)
            {
                return;   // the client did not answer our close in time: the socket is aborted
            }
            if (buffer.Length > _maxBytes || !await connection.TryBeginRequestAsync()) continue;   // closing: read on until the client's close

            var clock = Stopwatch.StartNew();
            byte[] answer;
            var type = WebSocketMessageType.Text;
            try
            {
                if (received.MessageType != WebSocketMessageType.Binary)
                    throw new BadInputException("Send observations as binary msgpack frames (openpi's format), not text.");
                if (OpenPiMsgpack.Unpack(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)) is not IReadOnlyDictionary<string, object?> message)
                    throw new BadInputException("The message is not a map of observation keys.");
                var result = await _queue.PredictAsync(_reader.Read(message));
                var timing = new Dictionary<string, object?> { ["infer_ms"] = result.InferMs };
                if (previousTotal is double total) timing["prev_total_ms"] = total;
                answer = OpenPiMsgpack.Pack(new Dictionary<string, object?>
                {
                    ["actions"] = NdArray.FromFloats(result.Chunk.Values, result.Chunk.Horizon, result.Chunk.PerActionDim),
                    ["server_timing"] = timing,
                });
                type = WebSocketMessageType.Binary;
            }
            catch (FormatException e)
            {
                answer = Encoding.UTF8.GetBytes($"The message is not openpi msgpack: {e.Message}");
            }
            catch (BadInputException e)
            {
                answer = Encoding.UTF8.GetBytes(e.Message);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                answer = Encoding.UTF8.GetBytes($"The policy failed on this observation: {e.Message}");
            }
            await connection.EndRequestAsync(answer, type, _stopping.IsCancellationRequested);
            if (type == WebSocketMessageType.Binary) previousTotal = clock.Elapsed.TotalMilliseconds;
        }
    }

    /// <summary>
    /// One WebSocket's sends, serialized: replies, errors and the server's close never overlap. A close is sent once; after
    /// it the client has <see cref="CloseGrace"/> to answer before the socket is aborted.
    /// </summary>
    private sealed class Connection(WebSocket socket) : IDisposable
    {
        public static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);
        private readonly SemaphoreSlim _send = new(1, 1);
        private readonly CancellationTokenSource _receive = new();
        private bool _busy, _closed;

        /// <summary>Cancels the pending receive (aborting the socket) once a sent close goes unanswered.</summary>
        public CancellationToken ReceiveCancel => _receive.Token;

        public async Task SendAsync(byte[] bytes, WebSocketMessageType type)
        {
            await _send.WaitAsync();
            try
            {
                if (!_closed) await socket.SendAsync(bytes, type, true, CancellationToken.None);
            }
            finally
            {
                _send.Release();
            }
        }

        /// <summary>Marks a request in flight; false once the connection is closing.</summary>
        public async Task<bool> TryBeginRequestAsync()
        {
            await _send.WaitAsync();
            try
            {
                _busy = !_closed;
                return _busy;
            }
            finally
            {
                _send.Release();
            }
        }

        /// <summary>Sends the request's answer, then the close when the server is stopping.</summary>
        public async Task EndRequestAsync(byte[] answer, WebSocketMessageType type, bool stopping)
        {
            await _send.WaitAsync();
            try
            {
                await socket.SendAsync(answer, type, true, CancellationToken.None);
                _busy = false;
                if (stopping) await CloseLockedAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down");
            }
            finally
            {
                _send.Release();
            }
        }

        public async Task CloseIfIdleAsync()
        {
            try
            {
                await _send.WaitAsync();
                try
                {
                    if (!_busy) await CloseLockedAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down");
                }
                finally
                {
                    _send.Release();
                }
            }
            catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
            {
                // The client is already gone.
            }
        }

        public async Task CloseAsync(WebSocketCloseStatus status, string? reason)
        {
            await _send.WaitAsync();
            try
            {
                await CloseLockedAsync(status, reason);
            }
            finally
            {
                _send.Release();
            }
        }

        private async Task CloseLockedAsync(WebSocketCloseStatus status, string? reason)
        {
            if (_closed || socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived)) return;
            _closed = true;
            await socket.CloseOutputAsync(status, reason, CancellationToken.None);
            if (socket.State != WebSocketState.Closed) _receive.CancelAfter(CloseGrace);
        }

        public void Dispose() => _receive.Dispose();   // the semaphore keeps no wait handle: nothing to free, and a late stop callback may still touch it
    }

    private static Dictionary<string, object?> MetadataOf(VlaPredictor predictor, ServerOptions options, int stateDim)
    {
        var spec = predictor.Spec;
        var layouts = options.Layout is { } fixedLayout ? [fixedLayout] : ObservationLayout.Known;
        bool wrist = spec.Cameras == 2;
        var metadata = new Dictionary<string, object?>
        {
            ["server"] = "vla",
            ["policy"] = spec.Family,
            ["horizon"] = spec.Horizon,
            ["per_action_dim"] = spec.ActionDim,
            ["state_dim"] = stateDim,
            ["image_size"] = spec.ImageSize,
            ["num_inference_steps"] = options.Steps ?? spec.NumInferenceSteps,
            ["cameras"] = wrist ? 2 : 1,
            ["observation_layouts"] = layouts.ToDictionary(l => l.Name, l => (object?)new Dictionary<string, object?>
            {
                ["image_1"] = l.Camera1,
                ["image_2"] = wrist ? l.Camera2 : null,
                ["state"] = stateDim > 0 ? l.State.Cast<object?>().ToList() : new List<object?>(),
                ["prompt"] = l.Prompt,
            }),
            ["rtc"] = new Dictionary<string, object?>
            {
                ["fields"] = new List<object?> { "prev_chunk", "inference_delay", "execution_horizon" },
                ["max_guidance_weight"] = predictor.Rtc.MaxGuidanceWeight,
                ["prefix_schedule"] = predictor.Rtc.Schedule.ToString().ToLowerInvariant(),
            },
            ["max_batch"] = options.BatchWindowMs > 0 ? options.MaxBatch : 1,
            ["model"] = predictor.Config?.Model.VlmConfig.ModelNameOrPath ?? spec.Family,
            ["checkpoint"] = Directory.Exists(predictor.Source) ? Path.GetFullPath(predictor.Source) : predictor.Source,
            ["dtype"] = spec.Dtype,
        };
        if (predictor.Normalizer.Stats.Action.Names is { } names) metadata["action_names"] = names.Cast<object?>().ToList();
        if (stateDim > 0 && predictor.Normalizer.Stats.State.Names is { } stateNames) metadata["state_names"] = stateNames.Cast<object?>().ToList();
        return metadata;
    }
}
