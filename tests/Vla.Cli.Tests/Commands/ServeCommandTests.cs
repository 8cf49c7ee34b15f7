using System.Diagnostics;
using System.Net;
using System.Text;
using Vla.Client;

namespace Vla.Tests.Commands;

/// <summary><c>vla serve</c> as a process: health, SIGTERM, and its refusals (the server itself is tested in Vla.Server.Tests).</summary>
public sealed class ServeCommandTests
{
    private static readonly int[] Chunk47 = [4, 7];

    private static readonly float[] State = [0.1f, 0.2f, 0.15f, 0, 0, 0, 1];

    private static Dictionary<string, object?> Ours()
    {
        var pixels = new byte[64 * 64 * 3];
        new Random(1).NextBytes(pixels);
        return new() { ["image_1"] = NdArray.FromBytes(pixels, 64, 64, 3), ["image_2"] = NdArray.FromBytes(pixels, 64, 64, 3), ["state"] = NdArray.FromFloats(State), ["prompt"] = "pick up the red cube" };
    }

    [Fact]
    public async Task Vla_serve_answers_health_and_exits_0_on_sigterm()
    {
        int port = FreePort();
        using var process = VlaProcess.Start(["serve", "--checkpoint", SampleCheckpoint.Path, "--port", port.ToString()]);
        var stdout = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
        {
            lock (stdout) if (stdout.ToString().Contains("Serving ")) break;
            await Task.Delay(100);
        }
        try
        {
            if (process.HasExited) Assert.Fail($"vla serve exited with {process.ExitCode}: {await stderr}");
            using var http = new HttpClient();
            Assert.Equal("OK\n", await http.GetStringAsync($"http://127.0.0.1:{port}/healthz"));
            await using (var client = await VlaPolicyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/")))
                Assert.Equal(Chunk47, (await client.InferAsync(Ours())).Actions.Shape);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])!) kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "still running 30 s after SIGTERM");
            process.WaitForExit();
            Assert.Equal(0, process.ExitCode);
            lock (stdout) Assert.Contains("Stopped after 1 request(s) in 1 model call(s).", stdout.ToString());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Vla_serve_refuses_a_bad_observation_map_and_a_taken_port_with_exit_2()
    {
        using var folder = new TempFolder("vla-obs-map-");
        string map = folder.PathOf("map.yaml");
        File.WriteAllText(map, "rgb: camera\n");
        {
            var result = await VlaProcess.RunAsync("serve", "--checkpoint", SampleCheckpoint.Path, "--obs-map", map);
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"error: {map}: key 'rgb' maps to 'camera'; use image_1 … image_6, state or prompt.", result.Stderr.Trim());
        }
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var busy = await VlaProcess.RunAsync("serve", "--checkpoint", SampleCheckpoint.Path, "--port", port.ToString());
        Assert.Equal(2, busy.ExitCode);
        Assert.StartsWith($"error: Cannot listen on 127.0.0.1:{port}", busy.Stderr.Trim());
    }


    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
