using Vla.Data;
using Vla.Data.Synthetic;

namespace Vla.Tests.Data;

public class SampleDataGeneratorTests
{
    private static readonly SampleDataGenerator.Options Small = new() { TrainEpisodes = 3, ValEpisodes = 1, EpisodesPerFile = 2, ImageSize = 16 };

    [Fact]
    public async Task The_output_is_a_pure_function_of_the_options()
    {
        using var a = new TestFiles();
        using var b = new TestFiles();
        var first = await SampleDataGenerator.WriteAsync(a.Root, Small);
        var second = await SampleDataGenerator.WriteAsync(b.Root, Small);
        Assert.Equal(3, first.Count); // train: 2 + 1 episodes, val: 1
        for (int i = 0; i < first.Count; i++)
            Assert.Equal(File.ReadAllBytes(first[i]), File.ReadAllBytes(second[i]));
    }

    [Fact]
    public async Task Episodes_name_a_cube_and_last_20_to_40_steps()
    {
        using var files = new TestFiles();
        await SampleDataGenerator.WriteAsync(files.Root, Small with { TrainEpisodes = 8 });
        var dataset = await EpisodeDataset.OpenAsync([Path.Combine(files.Root, "train")], new DataOptions { StateDim = 7, PerActionDim = 7 });
        Assert.Equal(8, dataset.Episodes.Count);
        Assert.All(dataset.Episodes, e => Assert.InRange(e.Length, 20, 40));
        Assert.All(dataset.Episodes, e => Assert.Matches("^pick up the (red|green|blue|yellow) cube$", e.Prompt));
        Assert.All(dataset.Episodes, e => Assert.True(e.Steps[^1].IsLast));
    }

    [Fact]
    public void The_same_scene_with_another_target_needs_another_action()
    {
        var red = new Cube("red", default, 0.2f, 0.1f, 0f);
        var blue = new Cube("blue", default, -0.2f, -0.1f, 0f);
        float[] state = [0f, 0f, 0.15f, 0f, 0f, 0f, 1f];
        var towardRed = ScriptedExpert.Act(state, red, holding: false);
        var towardBlue = ScriptedExpert.Act(state, blue, holding: false);
        Assert.True(towardRed[0] > 0 && towardBlue[0] < 0);
    }

    [Fact]
    public void The_committed_sample_data_is_small_and_complete()
    {
        string root = Path.Combine(TestFiles.RepoRoot, "data-samples");
        var files = Directory.EnumerateFiles(root, "*.parquet", SearchOption.AllDirectories).ToList();
        Assert.Equal(4, files.Count);
        Assert.True(files.Sum(f => new FileInfo(f).Length) < 8 << 20);
    }
}
