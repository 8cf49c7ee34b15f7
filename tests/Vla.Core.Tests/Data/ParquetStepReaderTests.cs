using Vla.Data;

namespace Vla.Tests.Data;

public class ParquetStepReaderTests
{
    private static string LeRobotEpisode =>
        Path.Combine(TestFiles.RepoRoot, "..", "shared", "reference", "lerobot-g1-episode_000001.parquet");

    [Fact]
    public async Task Reads_list_columns_of_a_pyarrow_written_LeRobot_episode()
    {
        string path = LeRobotEpisode;
        Assert.SkipUnless(File.Exists(path), $"{path} is not present (it lives in the shared folder beside the repository).");
        await using var reader = await ParquetStepReader.OpenAsync(path);
        var state = ParquetStepReader.FindColumn(reader.Schema, StepColumns.State)!;
        var action = ParquetStepReader.FindColumn(reader.Schema, StepColumns.Action)!;
        using var group = reader.OpenRowGroupReader(0);
        int rows = (int)group.RowCount;
        var problems = new List<DataProblem>();

        var states = await ParquetStepReader.ReadVectorsAsync(group, state, rows, 26, path, 0, problems, default);
        var actions = await ParquetStepReader.ReadVectorsAsync(group, action, rows, 26, path, 0, problems, default);

        Assert.Empty(problems);
        Assert.Equal(393, rows);
        Assert.All(states, s => Assert.Equal(26, s.Length));
        Assert.All(actions, a => Assert.Equal(26, a.Length));
        Assert.All(states.SelectMany(s => s), v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(states[0], states[^1]); // a real trajectory moves
    }

    [Fact]
    public async Task A_LeRobot_file_is_reported_as_missing_the_workbench_columns_by_name()
    {
        string path = LeRobotEpisode;
        Assert.SkipUnless(File.Exists(path), $"{path} is not present.");
        var read = await ParquetStepReader.ReadAsync(path, 0, new DataOptions());
        var missing = read.Problems.Select(p => p.Column).ToList();
        Assert.Equal(["image_1", "is_first", "prompt"], missing);
    }

    [Fact]
    public async Task Round_trips_what_the_writer_wrote()
    {
        using var files = new TestFiles();
        string path = files.Write("a.parquet", [TestFiles.Episode(3), TestFiles.Episode(2, "other")]);
        var read = await ParquetStepReader.ReadAsync(path, 0, new DataOptions { StateDim = 3, PerActionDim = 2 });
        Assert.Empty(read.Problems);
        Assert.Equal(5, read.Steps.Count);
        Assert.Equal([2f, 12f, 22f], read.Steps[2].State);
        Assert.Equal([101f, 111f], read.Steps[1].Action);
        Assert.Equal([true, false, false, true, false], read.Steps.Select(s => s.IsFirst));
        Assert.Equal("other", read.Steps[4].Prompt);
        Assert.Equal((1, 1, 4L), (read.Steps[4].RowGroup, read.Steps[4].RowInGroup, read.Steps[4].Row));
    }
}
