using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Vla.Runtime;

namespace Vla.Distributed;

/// <summary>
/// The smallest store a torchrun-style job needs: rank 0 listens on MASTER_PORT on every interface (as torchrun's store
/// does: the name MASTER_ADDR resolves to on rank 0's own machine, 127.0.1.1 on Debian, is no address other machines can
/// reach) and hands a fixed-size secret (NCCL's 128-byte unique id) to each other rank that presents the job's token
/// (<see cref="TokenVariable"/>) and a rank not yet served. Anything else that connects (a port scanner, a stray or stale
/// client) is dropped without being counted, so it neither learns the id nor keeps a real rank waiting.
/// </summary>
public static class TcpRendezvous
{
    /// <summary>The variable carrying the job's shared token: set by <c>vla train --nproc-per-node</c>; set it yourself for Slurm or mpirun starts.</summary>
    public const string TokenVariable = "VLA_RENDEZVOUS_TOKEN";

    private static readonly TimeSpan Hello = TimeSpan.FromSeconds(5); // a peer must present itself this quickly

    /// <summary>A new random token for a job (what the launcher puts in <see cref="TokenVariable"/>).</summary>
    public static string NewToken() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    /// <summary>The job's token from the environment.</summary>
    public static string TokenFromEnvironment() =>
        Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } token ? token
            : throw new BadInputException($"{TokenVariable} is not set: NCCL ranks started by Slurm, mpirun or another launcher must share a secret token " +
                $"in it (for example: export {TokenVariable}=$(openssl rand -hex 16) before the launch); WorkerLauncher.Run sets it itself.");

    /// <summary>Rank 0: serves <paramref name="payload"/> to ranks 1 … <paramref name="world"/> − 1 presenting <paramref name="token"/>, then returns.</summary>
    public static void Serve(int port, byte[] payload, int world, string token, TimeSpan timeout)
    {
        var listener = new TcpListener(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, port);
        if (Socket.OSSupportsIPv6) listener.Server.DualMode = true; // IPv4 and IPv6, every interface (IPv4 alone where IPv6 is off)
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            var served = new HashSet<int>();
            while (served.Count < world - 1)
            {
                var accept = listener.AcceptTcpClientAsync();
                if (!accept.Wait(Remaining(deadline)))
                    throw new VlaException($"Rendezvous on port {port}: only {served.Count} of {world - 1} other ranks presented the job's token within {timeout.TotalSeconds:F0} s.");
                using var client = accept.Result;
                if (ReadHello(client, token, world) is int rank && served.Add(rank))
                    client.GetStream().Write(payload);
            }
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>The rank a connection presents with the right token, or null (wrong token, bad rank, silence, garbage).</summary>
    private static int? ReadHello(TcpClient client, string token, int world)
    {
        try
        {
            client.ReceiveTimeout = (int)Hello.TotalMilliseconds;
            var stream = client.GetStream();
            var header = new byte[8];
            stream.ReadExactly(header);
            int rank = BinaryPrimitives.ReadInt32LittleEndian(header);
            int length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
            var expected = Encoding.UTF8.GetBytes(token);
            if (length != expected.Length || rank < 1 || rank >= world) return null;
            var presented = new byte[length];
            stream.ReadExactly(presented);
            return CryptographicOperations.FixedTimeEquals(presented, expected) ? rank : null;
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException)
        {
            return null;
        }
    }

    /// <summary>Other ranks: connects to rank 0 (retrying while it starts), presents <paramref name="rank"/> and the token, and reads <paramref name="length"/> bytes.</summary>
    public static byte[] Fetch(IPEndPoint endpoint, int length, int rank, string token, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var secret = Encoding.UTF8.GetBytes(token);
        var hello = new byte[8 + secret.Length];
        BinaryPrimitives.WriteInt32LittleEndian(hello, rank);
        BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(4), secret.Length);
        secret.CopyTo(hello, 8);
        while (true)
        {
            try
            {
                using var client = new TcpClient(endpoint.AddressFamily);
                client.Connect(endpoint);
                client.ReceiveTimeout = (int)Math.Max(1, Remaining(deadline).TotalMilliseconds);
                var stream = client.GetStream();
                stream.Write(hello);
                var payload = new byte[length];
                stream.ReadExactly(payload);
                return payload;
            }
            catch (Exception e) when (e is SocketException or IOException or EndOfStreamException)
            {
                if (DateTime.UtcNow > deadline)
                    throw new VlaException($"Rendezvous: rank 0 at {endpoint} did not hand out the id within {timeout.TotalSeconds:F0} s ({e.Message}); " +
                        $"check MASTER_ADDR, MASTER_PORT and that every rank has the same {TokenVariable}.", e);
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>MASTER_ADDR:MASTER_PORT from the environment.</summary>
    public static IPEndPoint FromEnvironment()
    {
        string address = Environment.GetEnvironmentVariable("MASTER_ADDR") ?? "127.0.0.1";
        if (!int.TryParse(Environment.GetEnvironmentVariable("MASTER_PORT"), out int port))
            throw new BadInputException("MASTER_PORT is not set; the worker launcher sets it, or set it yourself.");
        var ip = IPAddress.TryParse(address, out var parsed) ? parsed : Dns.GetHostAddresses(address).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        return new IPEndPoint(ip, port);
    }

    /// <summary>A free TCP port on the loopback interface.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static TimeSpan Remaining(DateTime deadline) => deadline > DateTime.UtcNow ? deadline - DateTime.UtcNow : TimeSpan.Zero;
}
