using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Vla.Data;
using Vla.Runtime;
using Vla.Data.Loading;

namespace Vla.Tests.Data;

/// <summary>A camera frame cut short (a full disk, an interrupted copy) decodes without error in ImageSharp, which fills the rest with grey.</summary>
public sealed class BrokenFrameTests : IDisposable
{
    private readonly TestFiles _files = new();
    private static readonly BatchLayout Layout = new(Cameras: 1, ImageSize: 8, StateDim: 3, Horizon: 2, PerActionDim: 2);

    public void Dispose() => _files.Dispose();

    private static byte[] Cut(byte[] bytes) => bytes[..(bytes.Length / 3)];

    [Fact]
    public void ImageSharp_alone_decodes_a_JPEG_cut_to_a_third_without_error()
    {
        using var image = Image.Load<Rgb24>(Cut(TestFiles.CameraJpeg())); // why the check below exists
        Assert.Equal(320, image.Width);
    }

    [Fact]
    public void Whole_images_pass_and_cut_ones_are_named_as_truncated()
    {
        var jpeg = TestFiles.CameraJpeg();
        var png = TestFiles.Png(32, 32, new Rgb24(1, 2, 3));
        Assert.Null(EncodedImage.FindTruncation(jpeg));
        Assert.Null(EncodedImage.FindTruncation(png));
        Assert.Null(EncodedImage.FindTruncation([.. jpeg, 0, 0, 0])); // padding after the end marker is harmless
        Assert.Contains("JPEG data ends inside the compressed image data", EncodedImage.FindTruncation(Cut(jpeg)));
        Assert.Contains("JPEG data ends", EncodedImage.FindTruncation(jpeg[..^2]));
        Assert.Contains("PNG data ends", EncodedImage.FindTruncation(png[..^12]));
        Assert.Contains("truncated", ImagePreprocessor.CheckHeader(Cut(jpeg), 1 << 20));
    }

    private string DatasetWithCutFrame(int row)
    {
        var steps = TestFiles.Episode(4).Select((s, t) => s with { Image1 = t == row ? Cut(TestFiles.CameraJpeg()) : TestFiles.CameraJpeg(64, 48, t) }).ToList();
        return _files.Write("cut.parquet", [steps]);
    }

    private BatchLoader Loader(EpisodeDataset dataset, bool skip) =>
        new(dataset, new Normalizer(NormalizationStats.Compute(dataset), NormalizationMode.MinMax), Layout, new LoaderOptions { BatchSize = 4, NumWorkers = 0, Shuffle = false, SkipBadFrames = skip });

    [Fact]
    public async Task Opening_the_data_names_the_file_row_and_column_of_a_cut_frame()
    {
        string path = DatasetWithCutFrame(row: 2);
        var e = await Assert.ThrowsAsync<BadInputException>(() => EpisodeDataset.OpenAsync([path], new DataOptions { StateDim = 3, PerActionDim = 2 }));
        Assert.StartsWith($"{path}, row 2, column 'image_1': the JPEG data ends inside the compressed image data", e.Message);
    }

    [Fact]
    public async Task Decoding_stops_at_a_cut_frame_the_opening_check_did_not_read()
    {
        string path = DatasetWithCutFrame(row: 2);
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions { StateDim = 3, PerActionDim = 2, VerifyImages = false });
        var e = Assert.Throws<BadInputException>(() => Loader(dataset, skip: false).EpochBuffers(1).ToList());
        Assert.StartsWith($"{path}, row 2, column 'image_1': the JPEG data ends", e.Message);
    }

    [Fact]
    public async Task With_skip_bad_frames_a_frame_cut_at_decoding_masks_its_window_and_is_counted()
    {
        string path = DatasetWithCutFrame(row: 2);
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions { StateDim = 3, PerActionDim = 2, VerifyImages = false });
        var loader = Loader(dataset, skip: true);
        var batch = loader.EpochBuffers(1).Single();
        Assert.Equal([true, true, true, true, false, false, true, false], batch.ActionMask); // window 2 trains nothing
        Assert.Equal(1, loader.SkippedFrames);
        Assert.Equal(2, loader.FirstSkippedFrame!.Row);
    }

    [Fact]
    public async Task With_skip_bad_frames_a_frame_found_cut_when_opening_leaves_its_window_out()
    {
        string path = DatasetWithCutFrame(row: 1);
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions { StateDim = 3, PerActionDim = 2, SkipBadFrames = true });
        Assert.Empty(dataset.Problems);
        Assert.Equal(1, Assert.Single(dataset.BrokenFrames).Row);
        var loader = Loader(dataset, skip: true);
        Assert.Equal([0, 2, 3], loader.Windows.Select(w => w.Step));
        Assert.Equal(0, loader.SkippedFrames);
    }

    [Fact]
    public async Task Inspect_decodes_every_frame_fully()
    {
        string path = DatasetWithCutFrame(row: 3);
        var dataset = await EpisodeDataset.OpenAsync([path], new DataOptions { CollectProblems = true, DecodeImages = true });
        var problem = Assert.Single(dataset.Problems);
        Assert.Equal((3L, "image_1"), (problem.Row!.Value, problem.Column!));
    }
}
