using System.Runtime.InteropServices;

namespace Vla.Runtime;

/// <summary>
/// Writes a file so that a crash or a power loss at any moment leaves the old file or the new one, never a mix: the
/// bytes go to a temporary file beside it, are flushed to the disk (<c>fsync</c>), the file is renamed into place and
/// the folder's entry is flushed too. Failures name the file; the temporary file never stays behind.
/// </summary>
public static partial class AtomicFile
{
    private const int ReadOnly = 0; // O_RDONLY

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>Writes <paramref name="path"/> with what <paramref name="fill"/> puts into the stream.</summary>
    public static void Write(string path, Action<Stream> fill) =>
        WriteAsync(path, stream => { fill(stream); return Task.CompletedTask; }).GetAwaiter().GetResult();

    /// <summary>Writes <paramref name="path"/> with the text <paramref name="text"/> (UTF-8).</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    /// <summary>
    /// Writes <paramref name="path"/> with what <paramref name="fill"/> puts into the stream, asynchronously. Failures of
    /// the file itself name it; what <paramref name="fill"/> throws (say, while reading its input) passes through unchanged.
    /// </summary>
    public static async Task WriteAsync(string path, Func<Stream, Task> fill)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        string temp = full + $".tmp-{Environment.ProcessId}";
        VlaException Failed(Exception e) => new($"{full} could not be written ({e.Message.TrimEnd('.')}).", e);
        try
        {
            FileStream stream;
            try
            {
                Directory.CreateDirectory(folder);
                stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Failed(e); }
            await using (stream)
            {
                await fill(stream);
                try { stream.Flush(flushToDisk: true); }
                catch (IOException e) { throw Failed(e); }
            }
            try
            {
                File.Move(temp, full, overwrite: true);
                Sync(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Failed(e); }
        }
        finally
        {
            try { if (File.Exists(temp)) File.Delete(temp); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Flushes a file's or a folder's contents to the disk (a folder: its entries, as a rename changed them). File
    /// systems that cannot flush a folder (FUSE mounts such as gcsfuse or blobfuse, CIFS: EINVAL, ENOTSUP, ENOSYS) are
    /// left as they are, as PostgreSQL does: there, a folder's flush is not what keeps the data.
    /// </summary>
    public static void Sync(string path)
    {
        if (!OperatingSystem.IsLinux()) return; // elsewhere the write-through of FileStream.Flush(true) is what there is
        const int Einval = 22, Enosys = 38, Enotsup = 95;
        int fd = Open(path, ReadOnly);
        if (fd < 0) throw new IOException($"{path} cannot be opened to flush it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (FSync(fd) != 0 && Marshal.GetLastPInvokeError() is int errno
                && !(Directory.Exists(path) && errno is Einval or Enosys or Enotsup))
                throw new IOException($"{path} could not be flushed to the disk (errno {errno}).");
        }
        finally
        {
            Close(fd);
        }
    }
}
