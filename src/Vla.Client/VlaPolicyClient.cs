using System.Net.WebSockets;
using System.Text;

namespace Vla.Client;

/// <summary>A policy server's answer: the action chunk and the server's timing.</summary>
/// <param name="Actions">float32 (horizon, per_action_dim) in the data's units.</param>
/// <param name="InferMs">The model's time for this request's batch, as the server measured it.</param>
/// <param name="PrevTotalMs">The server's whole time for the previous request on this connection (absent on the first).</param>
/// <param name="Raw">Every key of the reply.</param>
public sealed record PolicyReply(NdArray Actions, double? InferMs, double? PrevTotalMs, IReadOnlyDictionary<string, object?> Raw)
{
    /// <summary>Steps in the chunk.</summary>
    public int Horizon => Actions.Shape[0];

    /// <summary>Values per action.</summary>
    public int PerActionDim => Actions.Shape.Length > 1 ? Actions.Shape[1] : 1;

    /// <summary>The chunk, one array per step.</summary>
    public float[][] Steps
    {
        get
        {
            var values = Actions.ToFloats();
            return Enumerable.Range(0, Horizon).Select(h => values.AsSpan(h * PerActionDim, PerActionDim).ToArray()).ToArray();
        }
    }
}

/// <summary>Real-time chunking fields of a request: what the robot has not executed yet of the previous chunk.</summary>
/// <param name="PreviousActions">The remaining actions, one array per step, in the data's units; the first is the action for the observation's step.</param>
/// <param name="InferenceDelay">Steps the robot will execute from them before the new chunk arrives.</param>
/// <param name="ExecutionHorizon">Where guidance ends (null: every remaining action).</param>
public sealed record RtcFields(IReadOnlyList<float[]> PreviousActions, int InferenceDelay, int? ExecutionHorizon = null);

/// <summary>The server answered a request with an error (a text frame): the message says what was wrong with it.</summary>
public sealed class PolicyServerException(string message) : Exception(message);

/// <summary>
/// Client of a policy server speaking openpi's protocol (<c>vla serve</c>, or openpi's own): a WebSocket whose first
/// message is the server's metadata, then one msgpack observation and one reply at a time. Not thread-safe: one request
/// in flight per client, as the protocol has it; open one client per concurrent caller.
/// </summary>
public sealed class VlaPolicyClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly long _maxBytes;

    private VlaPolicyClient(ClientWebSocket socket, IReadOnlyDictionary<string, object?> metadata, long maxBytes) =>
        (_socket, Metadata, _maxBytes) = (socket, metadata, maxBytes);

    /// <summary>What the server said about its policy on connect (horizon, per_action_dim, state_dim, observation keys, …).</summary>
    public IReadOnlyDictionary<string, object?> Metadata { get; }

    /// <summary>Connects to <paramref name="uri"/> (<c>ws://host:port/</c>) and reads the metadata.</summary>
    /// <param name="uri">The server.</param>
    /// <param name="apiKey">Sent as <c>Authorization: Api-Key KEY</c> when not null.</param>
    /// <param name="maxMessageMb">Largest reply accepted.</param>
    /// <param name="ct">Cancels connecting.</param>
    public static async Task<VlaPolicyClient> ConnectAsync(Uri uri, string? apiKey = null, double maxMessageMb = 64, CancellationToken ct = default)
    {
        var socket = new ClientWebSocket();
        try
        {
            if (apiKey is not null) socket.Options.SetRequestHeader("Authorization", $"Api-Key {apiKey}");
            socket.Options.CollectHttpResponseDetails = true;
            try
            {
                await socket.ConnectAsync(uri, ct).ConfigureAwait(false);
            }
            catch (WebSocketException e) when (socket.HttpStatusCode == System.Net.HttpStatusCode.Unauthorized)
            {
                throw new UnauthorizedAccessException($"{uri} refused the connection (401): missing or wrong api key.", e);
            }
            long maxBytes = (long)(maxMessageMb * 1024 * 1024);
            var (type, bytes) = await ReceiveAsync(socket, maxBytes, ct).ConfigureAwait(false);
            if (type != WebSocketMessageType.Binary || OpenPiMsgpack.Unpack(bytes) is not IReadOnlyDictionary<string, object?> metadata)
                throw new InvalidDataException($"{uri} did not start with a metadata map: is it a policy server?");
            return new VlaPolicyClient(socket, metadata, maxBytes);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends one observation (keys as the server expects them: see <see cref="Metadata"/>'s <c>observation_layouts</c>;
    /// images as <see cref="NdArray"/> uint8, state as float arrays, the prompt a string) and waits for its chunk.
    /// Throws <see cref="PolicyServerException"/> with the server's sentence when it refuses the observation.
    /// </summary>
    public async Task<PolicyReply> InferAsync(IReadOnlyDictionary<string, object?> observation, RtcFields? rtc = null, CancellationToken ct = default)
    {
        var message = new Dictionary<string, object?>(observation);
        if (rtc is not null)
        {
            int dim = rtc.PreviousActions.Count == 0 ? 0 : rtc.PreviousActions[0].Length;
            message["prev_chunk"] = NdArray.FromFloats(rtc.PreviousActions.SelectMany(a => a).ToArray(), rtc.PreviousActions.Count, dim);
            message["inference_delay"] = rtc.InferenceDelay;
            if (rtc.ExecutionHorizon is int horizon) message["execution_horizon"] = horizon;
        }
        await _socket.SendAsync(OpenPiMsgpack.Pack(message), WebSocketMessageType.Binary, true, ct).ConfigureAwait(false);
        var (type, bytes) = await ReceiveAsync(_socket, _maxBytes, ct).ConfigureAwait(false);
        if (type == WebSocketMessageType.Text) throw new PolicyServerException(Encoding.UTF8.GetString(bytes.Span));
        if (OpenPiMsgpack.Unpack(bytes) is not IReadOnlyDictionary<string, object?> reply || reply.GetValueOrDefault("actions") is not NdArray actions)
            throw new InvalidDataException("The server's reply holds no 'actions' array.");
        var timing = reply.GetValueOrDefault("server_timing") as IReadOnlyDictionary<string, object?>;
        return new PolicyReply(actions, Number(timing?.GetValueOrDefault("infer_ms")), Number(timing?.GetValueOrDefault("prev_total_ms")), reply);
    }

    private static double? Number(object? value) => value switch
    {
        double d => d,
        float f => f,
        long l => l,
        _ => null,
    };

    private static async Task<(WebSocketMessageType Type, ReadOnlyMemory<byte> Bytes)> ReceiveAsync(ClientWebSocket socket, long maxBytes, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(chunk, ct).ConfigureAwait(false);
            if (received.MessageType == WebSocketMessageType.Close)
                throw new WebSocketException($"The server closed the connection ({received.CloseStatus}: {received.CloseStatusDescription}).");
            buffer.Write(chunk, 0, received.Count);
            if (buffer.Length > maxBytes) throw new InvalidDataException($"The server's message exceeds {maxBytes} bytes.");
            if (received.EndOfMessage) return (received.MessageType, buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        }
    }

    /// <summary>Closes the connection politely.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
            else if (_socket.State == WebSocketState.CloseReceived)   // the server closed first (shutting down): answer it
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // Already gone.
        }
        _socket.Dispose();
    }
}
