using Vla.Client;
using Vla.Server;

namespace Vla.Tests.Server;

/// <summary>Observation maps from the wire: layouts, observation maps, and every image encoding the same pixels.</summary>
public sealed class ObservationReaderTests
{
    [Fact]
    public void An_observation_map_routes_any_keys_and_concatenates_state_parts_in_order()
    {
        using var folder = new TempFolder("vla-obs-map-");
        string map = folder.PathOf("map.yaml");
        File.WriteAllText(map, "cams/front: image_1\ncams/hand: image_2\narm: state\ngripper: state\ntask: prompt\n");
        {
            var reader = new ObservationReader(7, 2, false, 7, 4, ObservationLayout.FromYaml(map));
            var request = reader.Read(new Dictionary<string, object?>
            {
                ["cams"] = new Dictionary<string, object?> { ["front"] = Frames.Hwc(8, 8), ["hand"] = Frames.Chw(8, 8) },
                ["arm"] = NdArray.FromFloats(Frames.State[..6]), ["gripper"] = 1.0, ["task"] = "stack",
            });
            Assert.Equal(Frames.State, request.Observation.State);
            Assert.Equal("stack", request.Observation.Prompt);
            Assert.Null(request.Rtc);
        }
    }

    [Fact]
    public void A_map_names_cameras_past_the_second_and_a_masking_policy_goes_without_them()
    {
        using var folder = new TempFolder("vla-obs-map-");
        string map = folder.PathOf("map.yaml");
        File.WriteAllText(map, "front: image_1\nleft: image_2\nright: image_3\nstate: state\nprompt: prompt\n");
        var layout = ObservationLayout.FromYaml(map);
        Assert.Equal(["right"], layout.MoreCameras);
        var message = new Dictionary<string, object?> { ["front"] = Frames.Hwc(8, 8), ["right"] = Frames.Hwc(8, 8), ["state"] = NdArray.FromFloats(Frames.State), ["prompt"] = "x" };
        var masked = new ObservationReader(7, 3, true, 7, 4, layout).Read(message).Observation;
        Assert.Null(masked.Camera(1));                                   // left is missing: masked by the policy
        Assert.Single(masked.Camera(2)!);
        var error = Assert.Throws<Vla.Runtime.BadInputException>(() => new ObservationReader(7, 3, false, 7, 4, layout).Read(message));
        Assert.Equal("The observation has no 'left': the policy needs this camera's image.", error.Message);
        message["left"] = Frames.Hwc(8, 8);
        var four = Assert.Throws<Vla.Runtime.BadInputException>(() => new ObservationReader(7, 4, false, 7, 4, layout).Read(message));
        Assert.Contains("names only", four.Message);

        File.WriteAllText(map, "front: image_1\nright: image_4\n");
        Assert.Contains("maps image_4 but not every camera before it", Assert.Throws<Vla.Runtime.BadInputException>(() => ObservationLayout.FromYaml(map)).Message);
    }

    [Fact]
    public void Hwc_chw_and_unit_float_images_of_the_same_pixels_preprocess_identically()
    {
        var reader = new ObservationReader(0, 2, false, 7, 4);
        var hwc = Frames.Hwc(30, 50);
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

}
