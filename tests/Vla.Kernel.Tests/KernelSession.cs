using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;
using Vla.Data;

namespace Vla.Kernel.Tests;

/// <summary>A C# kernel with the Vla extension loaded, as a notebook has it after <c>#r "nuget: Vla.Kernel"</c>.</summary>
internal sealed class KernelSession : IDisposable
{
    public CompositeKernel Kernel { get; }

    private KernelSession(CompositeKernel kernel) => Kernel = kernel;

    public static async Task<KernelSession> StartAsync()
    {
        var csharp = new CSharpKernel().UseKernelHelpers();
        var kernel = new CompositeKernel { csharp };
        kernel.DefaultKernelName = csharp.Name;
        csharp.AddAssemblyReferences([typeof(Episode).Assembly.Location, typeof(VlaKernel).Assembly.Location]);
        await new VlaKernelExtension().OnLoadAsync(kernel);
        return new KernelSession(kernel);
    }

    /// <summary>Submits <paramref name="code"/>; returns its events (asserting it did not fail unless <paramref name="mayFail"/>).</summary>
    public async Task<IReadOnlyList<KernelEvent>> SubmitAsync(string code, bool mayFail = false)
    {
        var result = await Kernel.SendAsync(new Microsoft.DotNet.Interactive.Commands.SubmitCode(code));
        if (!mayFail && result.Events.OfType<CommandFailed>().FirstOrDefault() is { } failed)
            Assert.Fail($"cell failed: {failed.Message}");
        return result.Events;
    }

    /// <summary>Submits <paramref name="code"/> and returns the text/html of the one value it returns.</summary>
    public async Task<string> ReturnedHtmlAsync(string code) =>
        Assert.Single(Html((await SubmitAsync(code)).OfType<ReturnValueProduced>()));

    /// <summary>The text/html of every displayed or returned value, in order.</summary>
    public static List<string> Html(IEnumerable<KernelEvent> events) => events.OfType<DisplayEvent>()
        .SelectMany(e => e.FormattedValues).Where(v => v.MimeType == "text/html").Select(v => v.Value).ToList();

    public void Dispose() => Kernel.Dispose();
}

/// <summary>Paths in the repository.</summary>
internal static class Repo
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Vla.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Vla.sln not found above the test folder.");
        }
    }

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>A code literal for a path (verbatim string).</summary>
    public static string Literal(string path) => "@\"" + path.Replace("\"", "\"\"") + "\"";
}
