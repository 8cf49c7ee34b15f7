using System.Net;
using System.Net.Sockets;
using Vla.Distributed;
using Vla.Runtime;

namespace Vla.Tests.Distributed;

public sealed class TcpRendezvousTests
{
    private static readonly byte[] Id = Enumerable.Range(0, 128).Select(i => (byte)i).ToArray();
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static Task Serve(int port, int world) => Task.Run(() => TcpRendezvous.Serve(port, Id, world, "job-token", Timeout));

    /// <summary>A client connected to <paramref name="endpoint"/>, retrying while the server starts.</summary>
    private static TcpClient Connect(IPEndPoint endpoint)
    {
        for (int attempt = 0; ; attempt++)
        {
            var client = new TcpClient();
            try
            {
                client.Connect(endpoint);
                return client;
            }
            catch (SocketException) when (attempt < 100)
            {
                client.Dispose();
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Connects to the rendezvous and sends <paramref name="bytes"/> (nothing at all when empty), as a stray client would.</summary>
    private static byte[] Stray(IPEndPoint endpoint, byte[] bytes)
    {
        using var client = Connect(endpoint);
        client.ReceiveTimeout = 7000;
        var stream = client.GetStream();
        if (bytes.Length > 0) stream.Write(bytes);
        var received = new byte[128];
        int n = 0;
        try { n = stream.Read(received); } catch (IOException) { }
        return received[..n];
    }

    [Fact]
    public async Task Strangers_get_nothing_and_do_not_count_as_ranks()
    {
        int port = TcpRendezvous.FreePort();
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        var server = Serve(port, world: 2);
        byte[] WrongToken() { var hello = new byte[8 + 5]; hello[0] = 1; hello[4] = 5; "wrong"u8.CopyTo(hello.AsSpan(8)); return hello; }
        Assert.Empty(await Task.Run(() => Stray(endpoint, WrongToken())));         // the wrong token
        Assert.Empty(await Task.Run(() => Stray(endpoint, "GET / HTTP/1.1\r\n\r\n"u8.ToArray()))); // not our protocol
        Assert.False(server.IsCompleted);                                          // neither was counted as rank 1
        Assert.Equal(Id, TcpRendezvous.Fetch(endpoint, 128, rank: 1, "job-token", Timeout));
        await server.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_silent_connection_does_not_hold_up_a_real_rank()
    {
        int port = TcpRendezvous.FreePort();
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        var server = Serve(port, world: 2);
        using var silent = Connect(endpoint); // connects first and never speaks
        Assert.Equal(Id, await Task.Run(() => TcpRendezvous.Fetch(endpoint, 128, 1, "job-token", Timeout)));
        await server.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Rank_0_listens_on_every_interface_not_only_the_address_its_host_name_resolves_to()
    {
        // MASTER_ADDR may resolve to 127.0.1.1 on rank 0's machine (Debian's host name entry); other machines reach it by another address.
        int port = TcpRendezvous.FreePort();
        var server = Serve(port, world: 3);
        Assert.Equal(Id, await Task.Run(() => TcpRendezvous.Fetch(new IPEndPoint(IPAddress.Loopback, port), 128, 1, "job-token", Timeout)));
        Assert.Equal(Id, await Task.Run(() => TcpRendezvous.Fetch(new IPEndPoint(IPAddress.Parse("127.0.1.1"), port), 128, 2, "job-token", Timeout)));
        await server.WaitAsync(Timeout);
    }

    [Fact]
    public void Without_a_token_a_rank_started_by_another_launcher_is_told_how_to_set_one()
    {
        string? saved = Environment.GetEnvironmentVariable(TcpRendezvous.TokenVariable);
        Environment.SetEnvironmentVariable(TcpRendezvous.TokenVariable, null);
        try
        {
            var e = Assert.Throws<BadInputException>(TcpRendezvous.TokenFromEnvironment);
            Assert.StartsWith("VLA_RENDEZVOUS_TOKEN is not set", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(TcpRendezvous.TokenVariable, saved);
        }
    }
}
