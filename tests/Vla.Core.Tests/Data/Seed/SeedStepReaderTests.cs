using Vla.Data;
using Vla.Data.Seed;
using Vla.Data.Parquet;

namespace Vla.Tests.Data.Seed;

public class SeedStepReaderTests
{
    /// <summary>A real pyarrow-written LeRobot episode (tests/data/lerobot-g1: source and MIT licence beside it).</summary>
    private static string LeRobotEpisode => Path.Combine(TestFiles.RepoRoot, "tests", "data", "lerobot-g1", "episode_000001.parquet");

    [Fact]
    public async Task Reads_list_columns_of_a_pyarrow_written_LeRobot_episode()
    {
        string path = LeRobotEpisode;
        await using var reader = await ParquetColumns.OpenAsync(path);
        var state = ParquetColumns.FindColumn(reader.Schema, StepColumns.State)!;
        var action = ParquetColumns.FindColumn(reader.Schema, StepColumns.Action)!;
        using var group = reader.OpenRowGroupReader(0);
        int rows = (int)group.RowCount;
        var problems = new List<DataProblem>();

        var states = await ParquetColumns.ReadVectorsAsync(group, state, rows, 26, path, 0, problems, default);
        var actions = await ParquetColumns.ReadVectorsAsync(group, action, rows, 26, path, 0, problems, default);

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
        var read = await SeedStepReader.ReadAsync(path, 0, new DataOptions());
        var missing = read.Problems.Select(p => p.Column).ToList();
        Assert.Equal(["image_1", "is_first", "prompt"], missing);
    }

    [Fact]
    public async Task Round_trips_what_the_writer_wrote()
    {
        using var files = new TestFiles();
        string path = files.Write("a.parquet", [TestFiles.Episode(3), TestFiles.Episode(2, "other")]);
        var read = await SeedStepReader.ReadAsync(path, 0, new DataOptions { StateDim = 3, PerActionDim = 2 });
        Assert.Empty(read.Problems);
        Assert.Equal(5, read.Steps.Count);
        Assert.Equal([2f, 12f, 22f], read.Steps[2].State);
        Assert.Equal([101f, 111f], read.Steps[1].Action);
        Assert.Equal([true, false, false, true, false], read.Steps.Select(s => s.IsFirst));
        Assert.Equal("other", read.Steps[4].Prompt);
        Assert.Equal((1, 1, 4L), (read.Steps[4].RowGroup, read.Steps[4].RowInGroup, read.Steps[4].Row));
    }

    [Fact]
    public async Task Without_a_configured_length_a_row_one_value_short_is_reported()
    {
        using var files = new TestFiles();
        var steps = TestFiles.Episode(5);
        steps[3] = steps[3] with { State = steps[3].State[..2] };
        string path = files.Write("short.parquet", [steps]);
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions { CollectProblems = true, VerifyImages = false });
        var problem = Assert.Single(dataset.Problems);
        Assert.Equal($"{path}, row 3, column 'state': expected 3 values (the length most rows have), found 2.", problem.ToString());
    }

    [Fact]
    public async Task Without_a_configured_length_a_whole_episode_of_another_length_is_reported()
    {
        using var files = new TestFiles();
        string path = files.Write("episodes.parquet", [TestFiles.Episode(3), TestFiles.Episode(2, stateDim: 2), TestFiles.Episode(4)]);
        var read = await SeedStepReader.ReadAsync(path, 0, new DataOptions { CollectProblems = true, VerifyImages = false });
        Assert.Equal([3L, 4L], read.Problems.Select(p => p.Row!.Value)); // the second row group, one episode of two rows
        Assert.All(read.Problems, p => Assert.Equal("expected 3 values (the length most rows have), found 2.", p.Message));
    }

    /// <summary>Opens the first row group of a three-row file and reads a column as if the row group's metadata said <paramref name="rows"/>.</summary>
    private static async Task<Exception> ReadDamaged(string column, int rows)
    {
        using var files = new TestFiles();
        string path = files.Write("a.parquet", [TestFiles.Episode(3)]);
        await using var reader = await ParquetColumns.OpenAsync(path);
        using var group = reader.OpenRowGroupReader(0);
        var field = reader.Schema.GetDataFields().First(f => f.Path.FirstPart == column);
        var problems = new List<DataProblem>();
        var e = await Record.ExceptionAsync(() => column switch
        {
            "state" => ParquetColumns.ReadVectorsAsync(group, field, rows, 3, path, 0, problems, default),
            "is_first" => ParquetColumns.ReadBoolsAsync(group, field, rows, path, 0, problems, default),
            "prompt" => ParquetColumns.ReadStringsAsync(group, field, rows, path, 0, problems, default),
            _ => ParquetColumns.ReadBinaryAsync(group, field, rows, path, default),
        });
        Assert.NotNull(e);
        Assert.StartsWith($"{path}, column '{column}': ", e.Message);
        return e;
    }

    [Theory]
    [InlineData("state", 2)]     // more lists than rows: used to index past the result (IndexOutOfRangeException)
    [InlineData("state", 4)]     // fewer lists than rows
    [InlineData("is_first", 4)]  // fewer flags than rows
    [InlineData("prompt", 4)]
    [InlineData("image_1", 4)]
    public async Task A_column_that_disagrees_with_its_row_count_is_bad_input_naming_file_and_column(string column, int rows) =>
        Assert.IsType<Vla.Runtime.BadInputException>(await ReadDamaged(column, rows));
}
