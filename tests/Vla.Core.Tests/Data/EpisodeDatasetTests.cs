using SixLabors.ImageSharp.PixelFormats;
using Vla.Data;
using Vla.Runtime;

namespace Vla.Tests.Data;

public class EpisodeDatasetTests
{
    private static readonly DataOptions Strict = new() { StateDim = 3, PerActionDim = 2 };

    private static BadInputException Fails(string path, DataOptions? options = null) =>
        Assert.Throws<BadInputException>(() => EpisodeDataset.OpenAsync([path], options ?? Strict).GetAwaiter().GetResult());

    [Fact]
    public async Task Episodes_open_at_is_first_and_never_span_files()
    {
        using var files = new TestFiles();
        files.Write("a.parquet", [TestFiles.Episode(3), TestFiles.Episode(4)]);
        files.Write("b.parquet", [TestFiles.Episode(5)]);
        var dataset = await EpisodeDataset.OpenAsync([files.Root], Strict);
        Assert.Equal([3, 4, 5], dataset.Episodes.Select(e => e.Length));
        Assert.Equal(2, dataset.Files.Count);
        Assert.EndsWith("b.parquet", dataset.Episodes[2].File);
        Assert.Equal(12, dataset.StepCount);
    }

    [Fact]
    public async Task A_glob_selects_files()
    {
        using var files = new TestFiles();
        files.Write("train-1.parquet", [TestFiles.Episode(2)]);
        files.Write("val-1.parquet", [TestFiles.Episode(3)]);
        var dataset = await EpisodeDataset.OpenAsync([Path.Combine(files.Root, "train-*.parquet")], Strict);
        Assert.Equal([2], dataset.Episodes.Select(e => e.Length));
    }

    [Fact]
    public void A_missing_required_column_is_named()
    {
        using var files = new TestFiles();
        string path = files.Write("a.parquet", [TestFiles.Episode(2)], "state");
        var e = Fails(path);
        Assert.StartsWith($"{path}, column 'state': required column is missing", e.Message);
    }

    [Fact]
    public void A_vector_of_the_wrong_length_is_located_by_row_and_column()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(4);
        episode[2] = episode[2] with { Action = [1f, 2f, 3f] };
        string path = files.Write("a.parquet", [episode]);
        var e = Fails(path);
        Assert.Equal($"{path}, row 2, column 'action': expected 2 values, found 3.", e.Message);
    }

    [Fact]
    public void NaN_and_infinite_values_are_located()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(4);
        episode[1] = episode[1] with { State = [0f, float.NaN, 0f] };
        episode[3] = episode[3] with { Action = [float.PositiveInfinity, 0f] };
        string path = files.Write("a.parquet", [episode]);
        var e = Fails(path);
        Assert.StartsWith($"{path}, row 1, column 'state': value 1 is NaN", e.Message);
        Assert.Contains("1 more problem", e.Message);
    }

    [Fact]
    public void An_undecodable_image_is_located()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(3);
        episode[2] = episode[2] with { Image1 = "definitely not a png"u8.ToArray() };
        string path = files.Write("a.parquet", [episode]);
        var e = Fails(path);
        Assert.Equal($"{path}, row 2, column 'image_1': the bytes are not a PNG or JPEG image.", e.Message);
    }

    [Fact]
    public void An_oversized_image_is_rejected_before_decoding()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(2);
        episode[0] = episode[0] with { Image2 = TestFiles.Png(300, 300, new Rgb24(1, 2, 3)) };
        string path = files.Write("a.parquet", [episode]);
        var e = Fails(path, Strict with { MaxImagePixels = 200 * 200 });
        Assert.StartsWith($"{path}, row 0, column 'image_2': the image is 300×300 = 90000 pixels, above the limit of 40000", e.Message);
    }

    [Fact]
    public void Rows_before_the_first_is_first_are_reported()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(3);
        episode[0] = episode[0] with { IsFirst = false };
        string path = files.Write("a.parquet", [episode]);
        var e = Fails(path);
        Assert.StartsWith($"{path}, row 0, column 'is_first': rows come before the first is_first = true", e.Message);
    }

    [Fact]
    public void An_empty_dataset_is_bad_input()
    {
        using var files = new TestFiles();
        string path = files.Write("a.parquet", []);
        var e = Fails(path);
        Assert.Contains("no rows", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_truncated_file_is_named()
    {
        using var files = new TestFiles();
        string good = files.Write("a.parquet", [TestFiles.Episode(3)]);
        var bytes = File.ReadAllBytes(good);
        string path = files.PathOf("truncated.parquet");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Fails(path);
        Assert.StartsWith($"{path}: not a readable Parquet file", e.Message);
    }

    [Fact]
    public void A_file_of_another_format_is_named()
    {
        using var files = new TestFiles();
        string path = files.PathOf("notes.parquet");
        File.WriteAllText(path, "these are not columns");
        var e = Fails(path);
        Assert.StartsWith($"{path}: not a readable Parquet file", e.Message);
    }

    [Fact]
    public void A_path_that_matches_nothing_is_named()
    {
        var e = Assert.Throws<BadInputException>(() => EpisodeDataset.OpenAsync(["/nonexistent/data/"], Strict).GetAwaiter().GetResult());
        Assert.StartsWith("/nonexistent/data/: no Parquet file found", e.Message);
    }

    [Fact]
    public async Task Inspect_mode_collects_every_problem_instead_of_stopping()
    {
        using var files = new TestFiles();
        var episode = TestFiles.Episode(4);
        episode[1] = episode[1] with { State = [0f, float.NaN, 0f] };
        episode[2] = episode[2] with { Image1 = [1, 2, 3] };
        files.Write("a.parquet", [episode]);
        var dataset = await EpisodeDataset.OpenAsync([files.Root], Strict with { CollectProblems = true });
        Assert.Equal([1L, 2L], dataset.Problems.Select(p => p.Row!.Value));
        Assert.Equal(4, dataset.StepCount);
    }
}
