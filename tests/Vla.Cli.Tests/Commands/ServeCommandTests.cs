using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Vla.Client;
using Vla.Inference;
using Vla.Server;

namespace Vla.Tests.Commands;

/// <summary>The policy server on openpi's protocol, talked to through <see cref="VlaPolicyClient"/> and raw WebSockets.</summary>
public sealed class ServeCommandTests(SampleCheckpoint sample) : IClassFixture<SampleCheckpoint>
{
    private static NdArray Hwc(int height, int width, int seed = 1)
    {
        var pixels = new byte[height * width * 3];
        new Random(seed).NextBytes(pixels);
        return NdArray.FromBytes(pixels, height, width, 3);
    }

    private static NdArray Chw(int height, int width) => NdArray.FromBytes(Hwc(height, width).Data, 3, height, width);

    private static readonly int[] Chunk47 = [4, 7];

    private static readonly float[] State = [0.1f, 0.2f, 0.15f, 0, 0, 0, 1];

    private static Dictionary<string, object?> Ours() => new()
    {
        ["image_1"] = Hwc(64, 64), ["image_2"] = Hwc(48, 80, seed: 2), ["state"] = NdArray.FromFloats(State), ["prompt"] = "pick up the red cube",
    };

    private async Task<PolicyServer> StartAsync(VlaPredictor predictor, ServerOptions? options = null)
    {
        var server = new PolicyServer(predictor, (options ?? new ServerOptions()) with { Port = 0 });
        await server.StartAsync();
        return server;
    }

    [Fact]
    public async Task The_client_reads_metadata_and_gets_a_chunk_for_every_layout_openpi_clients_send()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        Assert.Equal(4L, client.Metadata["horizon"]);
        Assert.Equal(7L, client.Metadata["per_action_dim"]);
        Assert.Equal(7L, client.Metadata["state_dim"]);
        Assert.Equal(64L, client.Metadata["image_size"]);
        Assert.Contains("libero", ((IReadOnlyDictionary<string, object?>)client.Metadata["observation_layouts"]!).Keys);

        var libero = new Dictionary<string, object?>
        {
            ["observation/image"] = Hwc(224, 224), ["observation/wrist_image"] = Hwc(224, 224), ["observation/state"] = NdArray.FromFloats(State), ["prompt"] = "x",
        };
        var droid = new Dictionary<string, object?>
        {
            ["observation/exterior_image_1_left"] = Hwc(180, 320), ["observation/wrist_image_left"] = Hwc(180, 320),
            ["observation/joint_position"] = NdArray.FromFloats(State[..6]), ["observation/gripper_position"] = NdArray.FromFloats(State[6..]), ["prompt"] = "x",
        };
        var aloha = new Dictionary<string, object?>
        {
            ["images"] = new Dictionary<string, object?> { ["cam_high"] = Chw(48, 64), ["cam_low"] = Chw(48, 64), ["cam_left_wrist"] = Chw(48, 64), ["cam_right_wrist"] = Chw(48, 64) },
            ["state"] = State.Select(v => (object?)(double)v).ToList(), ["prompt"] = "x",
        };
        var floats = Ours();
        floats["image_1"] = NdArray.FromFloats(Enumerable.Range(0, 64 * 64 * 3).Select(i => i % 256 / 255f).ToArray(), 64, 64, 3);
        var encoded = Ours();
        encoded["image_1"] = VlaProcess.SamplePng();

        PolicyReply? last = null;
        foreach (var observation in new[] { Ours(), libero, droid, aloha, floats, encoded })
        {
            var reply = await client.InferAsync(observation);
            Assert.Equal(Chunk47, reply.Actions.Shape);
            Assert.Equal("<f4", reply.Actions.Dtype);
            Assert.All(reply.Actions.ToFloats(), v => Assert.True(float.IsFinite(v)));
            Assert.True(reply.InferMs > 0);
            Assert.Equal(last is null, reply.PrevTotalMs is null);   // as openpi: the previous request's total, from the second reply on
            last = reply;
        }
    }

    [Theory]
    [InlineData("state", "state (2) holds 2 state values; the policy expects 7 (state_dim).")]
    [InlineData("camera", "The observation has no 'image_2': the policy needs this camera's image.")]
    [InlineData("prompt", "The observation has no 'prompt': the policy needs the instruction as a string.")]
    [InlineData("not-image", "'image_1' is an array of shape (7); an image is (height, width, 3) or (3, height, width).")]
    [InlineData("float-range", "'image_1' is a float image with value 2 at element 0; float images must lie in [0, 1] (or send uint8).")]
    [InlineData("rtc", "prev_chunk came without inference_delay (the steps the robot runs before the new chunk arrives).")]
    [InlineData("unknown", "The observation has no camera under any known key")]
    [InlineData("not-png", "'image_1' holds 9 bytes that are not a PNG or JPEG image; send uint8 pixels or an encoded image.")]
    public async Task A_bad_observation_gets_one_sentence_and_the_connection_keeps_serving(string fault, string expected)
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var observation = Ours();
        switch (fault)
        {
            case "state": observation["state"] = NdArray.FromFloats([1f, 2f]); break;
            case "camera": observation.Remove("image_2"); break;
            case "prompt": observation.Remove("prompt"); break;
            case "not-image": observation["image_1"] = NdArray.FromFloats(State); break;
            case "float-range": observation["image_1"] = NdArray.FromFloats(Enumerable.Repeat(2f, 12).ToArray(), 2, 2, 3); break;
            case "rtc": observation["prev_chunk"] = NdArray.FromFloats(new float[14], 2, 7); break;
            case "not-png": observation["image_1"] = Encoding.ASCII.GetBytes("not a png"); break;
            case "unknown": observation = new Dictionary<string, object?> { ["rgb"] = Hwc(8, 8), ["prompt"] = "x" }; break;
        }
        var error = await Assert.ThrowsAsync<PolicyServerException>(() => client.InferAsync(observation));
        Assert.StartsWith(expected, error.Message);
        Assert.Equal(Chunk47, (await client.InferAsync(Ours())).Actions.Shape);
    }

    [Fact]
    public async Task Frames_that_are_not_msgpack_or_not_binary_are_refused_in_a_sentence()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(server.Uri, default);
        var buffer = new byte[1 << 16];
        var metadata = await socket.ReceiveAsync(buffer, default);
        Assert.Equal(WebSocketMessageType.Binary, metadata.MessageType);

        await socket.SendAsync(new byte[] { 0xc1, 0x00 }, WebSocketMessageType.Binary, true, default);
        var reply = await socket.ReceiveAsync(buffer, default);
        Assert.Equal(WebSocketMessageType.Text, reply.MessageType);
        Assert.StartsWith("The message is not openpi msgpack: not msgpack", Encoding.UTF8.GetString(buffer, 0, reply.Count));

        await socket.SendAsync("{\"prompt\": \"x\"}"u8.ToArray(), WebSocketMessageType.Text, true, default);
        reply = await socket.ReceiveAsync(buffer, default);
        Assert.Equal("Send observations as binary msgpack frames (openpi's format), not text.", Encoding.UTF8.GetString(buffer, 0, reply.Count));
    }

    [Fact]
    public async Task With_an_api_key_only_connections_sending_it_are_upgraded_and_health_stays_open()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor, new ServerOptions(ApiKey: "s3cret"));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => VlaPolicyClient.ConnectAsync(server.Uri));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => VlaPolicyClient.ConnectAsync(server.Uri, apiKey: "s3cre"));
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri, apiKey: "s3cret");
        Assert.Equal(Chunk47, (await client.InferAsync(Ours())).Actions.Shape);

        using var http = new HttpClient();
        string health = server.Uri.ToString().Replace("ws://", "http://") + "healthz";
        var response = await http.GetAsync(health);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("OK\n", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(health.Replace("healthz", ""))).StatusCode);
    }

    [Fact]
    public async Task A_message_above_the_limit_is_refused_and_the_connection_closed()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor, new ServerOptions(MaxMessageMb: 0.01));   // 10 KiB: two 64 × 64 frames are 24 KiB
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var error = await Assert.ThrowsAsync<PolicyServerException>(() => client.InferAsync(Ours()));
        Assert.StartsWith("The message exceeds the server's limit of 0.01 MiB (--max-message-mb)", error.Message);
        var closed = await Assert.ThrowsAsync<WebSocketException>(() => client.InferAsync(Ours()));
        Assert.Contains("MessageTooBig", closed.Message);
    }

    [Fact]
    public async Task Requests_from_several_clients_within_the_window_share_a_model_call_and_a_bad_one_fails_alone()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor, new ServerOptions(MaxBatch: 4, BatchWindowMs: 2000));
        var clients = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => VlaPolicyClient.ConnectAsync(server.Uri)));
        try
        {
            var first = await Task.WhenAll(clients.Select(c => c.InferAsync(Ours())));
            Assert.All(first, r => Assert.Equal(Chunk47, r.Actions.Shape));
            var (batches, requests) = server.Served;
            Assert.Equal(4, requests);
            Assert.True(batches < requests, $"{requests} requests took {batches} model calls");

            var truncated = Ours();
            truncated["image_1"] = VlaProcess.SamplePng()[..60];   // a PNG header: passes the reader, fails to decode in the batch
            var replies = clients.Select((c, i) => c.InferAsync(i == 3 ? truncated : Ours())).ToList();
            Assert.All(await Task.WhenAll(replies.Take(3)), r => Assert.Equal(Chunk47, r.Actions.Shape));
            var error = await Assert.ThrowsAsync<PolicyServerException>(() => replies[3]);
            Assert.StartsWith("Observation 0, camera 1, frame 0:", error.Message);
            Assert.Equal(7, server.Served.Requests);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Rtc_fields_guide_the_chunk_towards_the_previous_actions()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var target = Enumerable.Range(0, 4).Select(h => new[] { 0.02f, -0.02f, 0.01f, 0, 0, 0, 1f }).ToArray();
        double Gap(PolicyReply r) => r.Steps.Take(2).Zip(target).Average(p => p.First.Zip(p.Second).Average(v => Math.Abs(v.First - v.Second)));
        double free = 0, guided = 0;
        for (int i = 0; i < 3; i++)
        {
            free += Gap(await client.InferAsync(Ours()));
            guided += Gap(await client.InferAsync(Ours(), new RtcFields(target, InferenceDelay: 2)));
        }
        Assert.True(guided < 0.5 * free, $"guided {guided / 3:G3} vs free {free / 3:G3}");
        var error = await Assert.ThrowsAsync<PolicyServerException>(() => client.InferAsync(Ours(), new RtcFields(target, InferenceDelay: 9)));
        Assert.Equal("This request: inference_delay is 9, but it must be between 0 and the 4 actions prev_chunk holds.", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Guided_predictions_leave_no_tensor_behind(bool exactJacobian)
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        predictor.Rtc = new RtcSettings(ExactJacobian: exactJacobian);
        var observation = new ObservationReader(7, true, 7, 4).Read(Ours()).Observation;
        var rtc = new RtcRequest(new float[14], 1);
        predictor.PredictBatch([observation, observation], seed: 1, rtc: [rtc, null]);   // warm-up: lazily created tensors
        long Live() => TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long before = Live();
        for (int i = 0; i < 3; i++) predictor.PredictBatch([observation, observation], seed: i, rtc: [rtc, null]);
        Assert.Equal(before, Live());
    }

    [Fact]
    public async Task Stopping_answers_the_request_in_flight_then_closes_every_connection_with_a_close_frame()
    {
        using var predictor = VlaPredictor.Load(sample.Checkpoint);
        var server = await StartAsync(predictor, new ServerOptions(BatchWindowMs: 300, MaxBatch: 2));
        await using var idle = await VlaPolicyClient.ConnectAsync(server.Uri);   // a second connection makes the request wait its window
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var reply = client.InferAsync(Ours());
        await Task.Delay(100);
        var stopping = server.DisposeAsync().AsTask();
        Assert.Equal(Chunk47, (await reply).Actions.Shape);
        var closed = await Assert.ThrowsAsync<WebSocketException>(() => client.InferAsync(Ours()));
        Assert.Contains("EndpointUnavailable", closed.Message);   // a close frame (1001), not a reset
        closed = await Assert.ThrowsAsync<WebSocketException>(() => idle.InferAsync(Ours()));
        Assert.Contains("EndpointUnavailable", closed.Message);
        await stopping;
    }

    [Fact]
    public async Task Vla_serve_answers_health_and_exits_0_on_sigterm()
    {
        int port = FreePort();
        using var process = VlaProcess.Start(["serve", "--checkpoint", sample.Checkpoint, "--port", port.ToString()]);
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
        string map = Path.Combine(Path.GetTempPath(), $"obs-map-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(map, "rgb: camera\n");
        try
        {
            var result = await VlaProcess.RunAsync("serve", "--checkpoint", sample.Checkpoint, "--obs-map", map);
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"error: {map}: key 'rgb' maps to 'camera'; use image_1, image_2, state or prompt.", result.Stderr.Trim());
        }
        finally
        {
            File.Delete(map);
        }
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var busy = await VlaProcess.RunAsync("serve", "--checkpoint", sample.Checkpoint, "--port", port.ToString());
        Assert.Equal(2, busy.ExitCode);
        Assert.StartsWith($"error: Cannot listen on 127.0.0.1:{port}", busy.Stderr.Trim());
    }

    [Fact]
    public void An_observation_map_routes_any_keys_and_concatenates_state_parts_in_order()
    {
        string map = Path.Combine(Path.GetTempPath(), $"obs-map-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(map, "cams/front: image_1\ncams/hand: image_2\narm: state\ngripper: state\ntask: prompt\n");
        try
        {
            var reader = new ObservationReader(7, true, 7, 4, ObservationLayout.FromYaml(map));
            var request = reader.Read(new Dictionary<string, object?>
            {
                ["cams"] = new Dictionary<string, object?> { ["front"] = Hwc(8, 8), ["hand"] = Chw(8, 8) },
                ["arm"] = NdArray.FromFloats(State[..6]), ["gripper"] = 1.0, ["task"] = "stack",
            });
            Assert.Equal(State, request.Observation.State);
            Assert.Equal("stack", request.Observation.Prompt);
            Assert.Null(request.Rtc);
        }
        finally
        {
            File.Delete(map);
        }
    }

    [Fact]
    public void Hwc_chw_and_unit_float_images_of_the_same_pixels_preprocess_identically()
    {
        var reader = new ObservationReader(0, true, 7, 4);
        var hwc = Hwc(30, 50);
        var chw = new byte[hwc.Data.Length];
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 50; x++)
                for (int c = 0; c < 3; c++) chw[c * 1500 + y * 50 + x] = hwc.Data[(y * 50 + x) * 3 + c];
        var unit = NdArray.FromFloats(hwc.Data.Select(b => b / 255f).ToArray(), 30, 50, 3);
        float[] Pixels(NdArray image)
        {
            var frame = reader.Read(new Dictionary<string, object?> { ["image_1"] = image, ["image_2"] = image, ["prompt"] = "x" }).Observation.Camera1[0];
            var floats = new float[3 * 16 * 16];
            frame.Preprocess(16, 1 << 20, floats);
            return floats;
        }
        var expected = Pixels(hwc);
        Assert.Equal(expected, Pixels(NdArray.FromBytes(chw, 3, 30, 50)));
        Assert.Equal(expected, Pixels(unit));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
