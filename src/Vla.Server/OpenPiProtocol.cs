using System.Net.WebSockets;
using System.Text;
using Vla.Client;
using Vla.Runtime;

namespace Vla.Server;

/// <summary>
/// openpi's wire format on the server side: a binary msgpack map in (<see cref="OpenPiMsgpack"/>: nothing read from the wire
/// names a type or runs code), one <c>{"actions": float32 (horizon, dim), "server_timing": {"infer_ms", "prev_total_ms"}}</c>
/// map out, and errors as one-sentence text frames.
/// </summary>
/// <param name="reader">How the observation maps of this server's policy are read.</param>
/// <param name="wording">How error texts name the server's settings (<see cref="ServerOptions.Wording"/>); as written when null.</param>
public sealed class OpenPiProtocol(ObservationReader reader, Func<string, string>? wording = null)
{
    /// <summary>The request in one whole message; bad input throws <see cref="BadInputException"/> or <see cref="FormatException"/>.</summary>
    public PolicyRequest ReadRequest(ReadOnlyMemory<byte> message, WebSocketMessageType type)
    {
        if (type != WebSocketMessageType.Binary)
            throw new BadInputException("Send observations as binary msgpack frames (openpi's format), not text.");
        if (OpenPiMsgpack.Unpack(message) is not IReadOnlyDictionary<string, object?> map)
            throw new BadInputException("The message is not a map of observation keys.");
        return reader.Read(map);
    }

    /// <summary>The reply to a request: its chunk and the server's timing (<paramref name="previousTotalMs"/>: the last reply's round on this connection).</summary>
    public static byte[] Reply(InferenceResult result, double? previousTotalMs)
    {
        var timing = new Dictionary<string, object?> { ["infer_ms"] = result.InferMs };
        if (previousTotalMs is double total) timing["prev_total_ms"] = total;
        return OpenPiMsgpack.Pack(new Dictionary<string, object?>
        {
            ["actions"] = NdArray.FromFloats(result.Chunk.Values, result.Chunk.Horizon, result.Chunk.PerActionDim),
            ["server_timing"] = timing,
        });
    }

    /// <summary>The text frame that answers a request that failed with <paramref name="error"/>.</summary>
    public byte[] Error(Exception error) => Text(error switch
    {
        FormatException e => $"The message is not openpi msgpack: {e.Message}",
        BadInputException e => e.Message,
        _ => $"The policy failed on this observation: {error.Message}",
    });

    /// <summary>The text frame sent before closing a connection whose message outgrew <paramref name="maxBytes"/>.</summary>
    public byte[] TooBig(long maxBytes) =>
        Text($"The message exceeds the server's limit of {maxBytes / (1024.0 * 1024):0.##} MiB (ServerOptions.MaxMessageMb); the connection is closed.");

    private byte[] Text(string message) => Encoding.UTF8.GetBytes(wording is null ? message : wording(message));
}
