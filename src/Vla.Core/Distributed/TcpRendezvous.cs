using System.Net;
using System.Net.Sockets;
using Vla.Runtime;

namespace Vla.Distributed;

/// <summary>
/// The smallest store a torchrun-style job needs: rank 0 listens on MASTER_ADDR:MASTER_PORT and hands a
/// fixed-size secret (NCCL's 128-byte unique id) to every other rank, which connects and reads it.
/// </summary>
public static class TcpRendezvous
{
    /// <summary>Rank 0: serves <paramref name="payload"/> to <paramref name="peers"/> connections, then returns.</summary>
    public static void Serve(IPEndPoint endpoint, byte[] payload, int peers, TimeSpan timeout)
    {
        using var listener = new TcpListener(endpoint);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        var deadline = DateTime.UtcNow + timeout;
        for (int served = 0; served < peers; served++)
        {
            var accept = listener.AcceptTcpClientAsync();
            if (!accept.Wait(Remaining(deadline)))
                throw new VlaException($"Rendezvous at {endpoint}: only {served} of {peers} other ranks connected within {timeout.TotalSeconds:F0} s.");
            using var client = accept.Result;
            client.GetStream().Write(payload);
        }
    }

    /// <summary>Other ranks: connects to rank 0 (retrying while it starts) and reads <paramref name="length"/> bytes.</summary>
    public static byte[] Fetch(IPEndPoint endpoint, int length, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(endpoint);
                var payload = new byte[length];
                client.GetStream().ReadExactly(payload);
                return payload;
            }
            catch (Exception e) when (e is SocketException or IOException or EndOfStreamException)
            {
                if (DateTime.UtcNow > deadline)
                    throw new VlaException($"Rendezvous: rank 0 at {endpoint} did not answer within {timeout.TotalSeconds:F0} s ({e.Message}).", e);
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
