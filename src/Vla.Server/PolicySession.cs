using System.Diagnostics;
using System.Net.WebSockets;
using Vla.Client;

namespace Vla.Server;

/// <summary>
/// One client's connection: the metadata first, then a receive loop that reads one whole message at a time (refusing one
/// that outgrows the limit), queues its request with the <see cref="MicroBatcher"/> and answers it. Sends are serialized:
/// replies, errors and the server's close never overlap. On shutdown an idle connection is closed at once and a busy one
/// after its reply; a close the client does not answer within <see cref="CloseGrace"/> aborts the socket.
/// </summary>
public sealed class PolicySession : IDisposable
{
    /// <summary>How long a client has to answer the server's close.</summary>
    public static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly OpenPiProtocol _protocol;
    private readonly MicroBatcher _batcher;
    private readonly long _maxBytes;
    private readonly CancellationToken _stopping;
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _receive = new();
    private readonly byte[] _chunk = new byte[64 * 1024];
    private bool _busy, _closed;

    /// <summary>A session on <paramref name="socket"/>; <paramref name="stopping"/> fires when the server shuts down.</summary>
    public PolicySession(WebSocket socket, OpenPiProtocol protocol, MicroBatcher batcher, long maxBytes, CancellationToken stopping)
    {
        (_socket, _protocol, _batcher, _maxBytes, _stopping) = (socket, protocol, batcher, maxBytes, stopping);
    }

    /// <summary>Sends <paramref name="metadata"/>, then answers requests until the client closes or the server stops.</summary>
    public async Task RunAsync(byte[] metadata)
    {
        using var onStop = _stopping.Register(() => _ = CloseIfIdleAsync());
        await SendAsync(metadata, WebSocketMessageType.Binary);
        var buffer = new MemoryStream();
        double? previousTotal = null;
        while (true)
        {
            var (type, complete) = await ReceiveAsync(buffer);
            if (type is null) return;
            if (!complete || !await TryBeginRequestAsync()) continue;   // refused, or closing: read on until the client's close

            var clock = Stopwatch.StartNew();
            byte[] answer;
            var replyType = WebSocketMessageType.Text;
            try
            {
                var request = _protocol.ReadRequest(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), type.Value);
                answer = OpenPiProtocol.Reply(await _batcher.PredictAsync(request), previousTotal);
                replyType = WebSocketMessageType.Binary;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                answer = _protocol.Error(e);
            }
            await EndRequestAsync(answer, replyType, _stopping.IsCancellationRequested);
            if (replyType == WebSocketMessageType.Binary) previousTotal = clock.Elapsed.TotalMilliseconds;
        }
    }

    /// <summary>
    /// Reads one whole message into <paramref name="buffer"/>: its type, and whether it is complete (false when it outgrew the
    /// limit: the client is told, and the connection closed). A null type: the connection is over.
    /// </summary>
    private async Task<(WebSocketMessageType? Type, bool Complete)> ReceiveAsync(MemoryStream buffer)
    {
        buffer.SetLength(0);
        try
        {
            WebSocketReceiveResult received;
            do
            {
                received = await _socket.ReceiveAsync(_chunk, _receive.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await CloseAsync(WebSocketCloseStatus.NormalClosure, null);
                    return (null, false);
                }
                buffer.Write(_chunk, 0, received.Count);
                if (buffer.Length > _maxBytes)
                {
                    await SendAsync(_protocol.TooBig(_maxBytes), WebSocketMessageType.Text);
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too big");
                    return (received.MessageType, false);
                }
            } while (!received.EndOfMessage);
            return (received.MessageType, true);
        }
        catch (OperationCanceledException)
        {
            return (null, false);   // the client did not answer our close in time: the socket is aborted
        }
    }

    private async Task SendAsync(byte[] bytes, WebSocketMessageType type)
    {
        await _send.WaitAsync();
        try
        {
            if (!_closed) await _socket.SendAsync(bytes, type, true, CancellationToken.None);
        }
        finally
        {
            _send.Release();
        }
    }

    /// <summary>Marks a request in flight; false once the connection is closing.</summary>
    private async Task<bool> TryBeginRequestAsync()
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
    private async Task EndRequestAsync(byte[] answer, WebSocketMessageType type, bool stopping)
    {
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(answer, type, true, CancellationToken.None);
            _busy = false;
            if (stopping) await CloseLockedAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down");
        }
        finally
        {
            _send.Release();
        }
    }

    private async Task CloseIfIdleAsync()
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

    private async Task CloseAsync(WebSocketCloseStatus status, string? reason)
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
        if (_closed || _socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived)) return;
        _closed = true;
        await _socket.CloseOutputAsync(status, reason, CancellationToken.None);
        if (_socket.State != WebSocketState.Closed) _receive.CancelAfter(CloseGrace);
    }

    /// <summary>Frees the receive cancellation (the semaphore keeps no wait handle: a late stop callback may still touch it).</summary>
    public void Dispose() => _receive.Dispose();
}
