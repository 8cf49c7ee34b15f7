using Vla.Config;
using Vla.Training;

namespace Vla.Tests;

/// <summary>
/// The sample-config checkpoint the tests share (one short epoch on the validation split, to be quick), trained once per test
/// run: the first test assembly that needs it trains it into a folder named after this build of Vla.Core, holding a file
/// lock; the others, in this process or another, wait for the lock and reuse it. Folders of older builds are removed.
/// </summary>
internal static class SampleCheckpoint
{
    private const string Prefix = "vla-sample-checkpoint-";
    private static readonly Lazy<string> s_path = new(Train, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The checkpoint folder (trained on first use).</summary>
    public static string Path => s_path.Value;

    private static string Train()
    {
        string build = typeof(Trainer).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];
        string root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), Prefix + build);
        Directory.CreateDirectory(root);
        string ready = System.IO.Path.Combine(root, "ready.txt");
        using (Lock(root))
        {
            if (File.Exists(ready)) return File.ReadAllText(ready);
            var config = ConfigLoader.Load(System.IO.Path.Combine(RepoPaths.Root, "configs", "sample.yaml"));
            string val = System.IO.Path.Combine(RepoPaths.Root, "data-samples", "val");
            config = config with
            {
                Data = config.Data with { TrainParquetFiles = [val], ValParquetFiles = [val] },
                Training = config.Training with { Epochs = 1, CheckpointDir = root, ExperimentName = "tiny" },
            };
            string checkpoint = Trainer.RunAsync(config, new Trainer.Options()).GetAwaiter().GetResult().BestCheckpoint!;
            File.WriteAllText(ready, checkpoint);
            RemoveOlderBuilds(root);
            return checkpoint;
        }
    }

    /// <summary>An exclusive lock on <paramref name="folder"/>'s lock file (FileShare.None is an flock on Linux), waited for.</summary>
    private static FileStream Lock(string folder)
    {
        string file = System.IO.Path.Combine(folder, ".lock");
        while (true)
        {
            try { return new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { Thread.Sleep(200); }
        }
    }

    private static void RemoveOlderBuilds(string current)
    {
        foreach (var folder in Directory.GetDirectories(System.IO.Path.GetTempPath(), Prefix + "*").Where(f => f != current))
        {
            try
            {
                using (new FileStream(System.IO.Path.Combine(folder, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)) { }
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException) { }          // in use by a run of that build
            catch (UnauthorizedAccessException) { }
        }
    }
}
