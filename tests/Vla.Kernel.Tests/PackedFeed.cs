namespace Vla.Kernel.Tests;

/// <summary>
/// Vla.Core and Vla.Kernel packed once per test run into a private feed, with the README's pack command
/// and a version of its own, so the notebooks restore exactly the code under test.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
    private readonly Vla.Tests.TempFolder _folder = new("vla-feed-");

    public string Folder => _folder.Root;

    public async ValueTask InitializeAsync()
    {
        string suffix = "test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var pack = await ChildProcess.RunAsync("dotnet", ["pack", "packages.slnf", "-c", "Release", "-o", Folder, "--version-suffix", suffix]);
        if (pack.ExitCode != 0) throw new InvalidOperationException($"dotnet pack failed:\n{pack.Output}\n{pack.Error}");
    }

    public ValueTask DisposeAsync()
    {
        _folder.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The notebook tests share one feed and run one after another (they train models; the machine has few cores).</summary>
[CollectionDefinition(Name)]
public sealed class NotebookCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "notebooks";
}
