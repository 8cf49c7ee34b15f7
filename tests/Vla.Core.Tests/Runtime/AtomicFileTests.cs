using Vla.Runtime;

namespace Vla.Tests.Runtime;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void A_write_replaces_the_file_whole()
    {
        string path = _files.PathOf("sub/stats.json");
        AtomicFile.WriteAllText(path, "old");
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(["stats.json"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void A_write_that_fails_midway_leaves_the_old_file_and_no_temporary_one()
    {
        string path = _files.PathOf("model.safetensors");
        AtomicFile.WriteAllText(path, "good");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[1000]);
            throw new InvalidOperationException("the writer failed");
        }));
        Assert.Equal("good", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_files.Root));
    }

    [Fact]
    public void A_folder_that_cannot_be_made_is_an_error_naming_the_file()
    {
        File.WriteAllText(_files.PathOf("checkpoints"), "a file where a folder should be");
        string path = _files.PathOf("checkpoints/stats.json");
        var e = Assert.Throws<VlaException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.StartsWith($"{path} could not be written", e.Message);
    }

    [Fact]
    public void A_published_folder_replaces_the_old_one_in_one_step()
    {
        string target = _files.PathOf("checkpoint_epoch_1"), staging = _files.PathOf("staging");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "old.txt"), "old");
        Directory.CreateDirectory(Path.Combine(staging, "inner"));
        File.WriteAllText(Path.Combine(staging, "inner", "new.txt"), "new");
        AtomicDirectory.Publish(staging, target);
        Assert.Equal("new", File.ReadAllText(Path.Combine(target, "inner", "new.txt")));
        Assert.False(File.Exists(Path.Combine(target, "old.txt")));
        Assert.False(Directory.Exists(staging));
    }
}
