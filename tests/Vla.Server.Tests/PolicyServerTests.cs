using System.Net;
using System.Net.WebSockets;
using System.Text;
using Vla.Client;
using Vla.Data;
using Vla.Inference;
using Vla.Server;

namespace Vla.Tests.Server;

/// <summary>The policy server on openpi's protocol, talked to through <see cref="VlaPolicyClient"/> and raw WebSockets.</summary>
public sealed class PolicyServerTests
{
    private static readonly int[] Chunk47 = [4, 7];

    private static Dictionary<string, object?> Ours() => Frames.Ours();

    private static async Task<PolicyServer> StartAsync(VlaPredictor predictor, ServerOptions? options = null)
    {
        var server = new PolicyServer(predictor, (options ?? new ServerOptions()) with { Port = 0 });
        await server.StartAsync();
        return server;
    }

    [Fact]
    public async Task The_client_reads_metadata_and_gets_a_chunk_for_every_layout_openpi_clients_send()
    {
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        Assert.Equal(4L, client.Metadata["horizon"]);
        Assert.Equal(7L, client.Metadata["per_action_dim"]);
        Assert.Equal(7L, client.Metadata["state_dim"]);
        Assert.Equal(64L, client.Metadata["image_size"]);
        Assert.Contains("libero", ((IReadOnlyDictionary<string, object?>)client.Metadata["observation_layouts"]!).Keys);

        var libero = new Dictionary<string, object?>
        {
            ["observation/image"] = Frames.Hwc(224, 224), ["observation/wrist_image"] = Frames.Hwc(224, 224), ["observation/state"] = NdArray.FromFloats(Frames.State), ["prompt"] = "x",
        };
        var droid = new Dictionary<string, object?>
        {
            ["observation/exterior_image_1_left"] = Frames.Hwc(180, 320), ["observation/wrist_image_left"] = Frames.Hwc(180, 320),
            ["observation/joint_position"] = NdArray.FromFloats(Frames.State[..6]), ["observation/gripper_position"] = NdArray.FromFloats(Frames.State[6..]), ["prompt"] = "x",
        };
        var aloha = new Dictionary<string, object?>
        {
            ["images"] = new Dictionary<string, object?> { ["cam_high"] = Frames.Chw(48, 64), ["cam_low"] = Frames.Chw(48, 64), ["cam_left_wrist"] = Frames.Chw(48, 64), ["cam_right_wrist"] = Frames.Chw(48, 64) },
            ["state"] = Frames.State.Select(v => (object?)(double)v).ToList(), ["prompt"] = "x",
        };
        var floats = Ours();
        floats["image_1"] = NdArray.FromFloats(Enumerable.Range(0, 64 * 64 * 3).Select(i => i % 256 / 255f).ToArray(), 64, 64, 3);
        var encoded = Ours();
        encoded["image_1"] = Frames.SamplePng();

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
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var observation = Ours();
        switch (fault)
        {
            case "state": observation["state"] = NdArray.FromFloats([1f, 2f]); break;
            case "camera": observation.Remove("image_2"); break;
            case "prompt": observation.Remove("prompt"); break;
            case "not-image": observation["image_1"] = NdArray.FromFloats(Frames.State); break;
            case "float-range": observation["image_1"] = NdArray.FromFloats(Enumerable.Repeat(2f, 12).ToArray(), 2, 2, 3); break;
            case "rtc": observation["prev_chunk"] = NdArray.FromFloats(new float[14], 2, 7); break;
            case "not-png": observation["image_1"] = Encoding.ASCII.GetBytes("not a png"); break;
            case "unknown": observation = new Dictionary<string, object?> { ["rgb"] = Frames.Hwc(8, 8), ["prompt"] = "x" }; break;
        }
        var error = await Assert.ThrowsAsync<PolicyServerException>(() => client.InferAsync(observation));
        Assert.StartsWith(expected, error.Message);
        Assert.Equal(Chunk47, (await client.InferAsync(Ours())).Actions.Shape);
    }

    [Fact]
    public async Task Frames_that_are_not_msgpack_or_not_binary_are_refused_in_a_sentence()
    {
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
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
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
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
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
        // 10 KiB: two 64 × 64 frames are 24 KiB; the host words the setting as its users set it
        var options = new ServerOptions(MaxMessageMb: 0.01, Wording: text => text.Replace("ServerOptions.MaxMessageMb", "--max-message-mb"));
        await using var server = await StartAsync(predictor, options);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        var error = await Assert.ThrowsAsync<PolicyServerException>(() => client.InferAsync(Ours()));
        Assert.StartsWith("The message exceeds the server's limit of 0.01 MiB (--max-message-mb); the connection is closed.", error.Message);
        var closed = await Assert.ThrowsAsync<WebSocketException>(() => client.InferAsync(Ours()));
        Assert.Contains("MessageTooBig", closed.Message);
    }

    [Fact]
    public async Task Requests_from_several_clients_within_the_window_share_a_model_call_and_a_bad_one_fails_alone()
    {
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
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
            truncated["image_1"] = Frames.SamplePng()[..60];   // a PNG header: passes the reader, fails to decode in the batch
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
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
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

    [Fact]
    public async Task Stopping_answers_the_request_in_flight_then_closes_every_connection_with_a_close_frame()
    {
        using var predictor = VlaPredictor.Load(SampleCheckpoint.Path);
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
    public async Task A_policy_built_in_code_is_served_as_a_checkpoint_is()
    {
        // The mean-chunk baseline: no network, no checkpoint, only the sampling contract.
        var stats = new NormalizationStats
        {
            State = DimensionStats.Compute([new float[7], Enumerable.Repeat(1f, 7).ToArray()], 7),
            Action = DimensionStats.Compute([Enumerable.Repeat(-1f, 7).ToArray(), Enumerable.Repeat(3f, 7).ToArray()], 7),
        };
        var policy = new MeanChunkPolicy(MeanChunkPolicy.Spec(cameras: 2, imageSize: 16, stateDim: 7, horizon: 4, actionDim: 7) with { ReadsState = true },
            new Normalizer(stats, NormalizationMode.MinMax));
        using var predictor = new VlaPredictor(policy, stats, new Vla.Config.DataConfig { StateDim = 7, ImageSize = 16 }, "mean-chunk baseline");
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        Assert.Equal("mean_chunk", client.Metadata["policy"]);
        Assert.Equal("mean-chunk baseline", client.Metadata["checkpoint"]);
        var reply = await client.InferAsync(Ours());
        Assert.Equal(Chunk47, reply.Actions.Shape);
        Assert.All(reply.Actions.ToFloats(), v => Assert.Equal(1f, v, 1e-5f));   // the middle of [-1, 3], every step
    }

    [Fact]
    public async Task A_pi0_folder_reading_three_cameras_is_served_to_clients_that_send_two_or_three()
    {
        string folder = Path.Combine(RepoPaths.Root, "data-samples", "tiny-pi0");
        var loaded = Vla.Checkpoints.LeRobotPolicyFolder.Load(folder, robot: new(Cameras: 3, StateDim: 7, ActionDim: 7, ChunkSize: 4, NumInferenceSteps: 2));
        using var predictor = new VlaPredictor(loaded.Policy, loaded.Stats, new Vla.Config.DataConfig { StateDim = 7, ImageSize = 64 }, folder, normalizer: loaded.Normalizer);
        await using var server = await StartAsync(predictor);
        await using var client = await VlaPolicyClient.ConnectAsync(server.Uri);
        Assert.Equal("pi0", client.Metadata["policy"]);
        Assert.Equal(3L, client.Metadata["cameras"]);
        Assert.Equal("masked", client.Metadata["missing_cameras"]);
        var layouts = (IReadOnlyDictionary<string, object?>)client.Metadata["observation_layouts"]!;
        Assert.Equal(["image_3"], ((IReadOnlyList<object?>)((IReadOnlyDictionary<string, object?>)layouts["vla"]!)["more_images"]!).Cast<string>());
        Assert.Equal(["images/cam_right_wrist"], ((IReadOnlyList<object?>)((IReadOnlyDictionary<string, object?>)layouts["aloha"]!)["more_images"]!).Cast<string>());

        var three = Ours();
        three["image_3"] = Frames.Hwc(64, 64);
        var libero = new Dictionary<string, object?>
        {
            ["observation/image"] = Frames.Hwc(224, 224), ["observation/wrist_image"] = Frames.Hwc(224, 224), ["observation/state"] = NdArray.FromFloats(Frames.State), ["prompt"] = "x",
        };
        var mainOnly = Ours();
        mainOnly.Remove("image_2");
        foreach (var observation in new[] { three, libero, mainOnly })
        {
            var reply = await client.InferAsync(observation);
            Assert.Equal(Chunk47, reply.Actions.Shape);
            Assert.All(reply.Actions.ToFloats(), v => Assert.True(float.IsFinite(v)));
        }
    }
}
