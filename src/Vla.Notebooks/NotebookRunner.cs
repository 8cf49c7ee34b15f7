using System.Diagnostics;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.DotNet.Interactive.PackageManagement;
using DocKernelInfo = Microsoft.DotNet.Interactive.Documents.KernelInfo;

namespace Vla.Notebooks;

/// <summary>
/// Executes a notebook (.ipynb or .dib) cell by cell in an in-process C# kernel, the way VS Code's
/// Polyglot Notebooks would (working folder = the notebook's folder, #r "nuget:" restores, kernel
/// extensions from packages), stops at the first failing cell and writes the executed notebook with
/// its outputs.
/// </summary>
internal sealed class NotebookRunner(TextWriter log)
{
    /// <summary>What a run needs besides the notebook.</summary>
    /// <param name="OutputDir">Folder for executed copies (null: none written).</param>
    /// <param name="CellTimeout">Longest a cell may run.</param>
    public sealed record Options(string? OutputDir, TimeSpan CellTimeout);

    /// <summary>The cell languages these notebooks use (C# code, markdown prose).</summary>
    internal static readonly KernelInfoCollection Kernels = new()
    {
        new DocKernelInfo("csharp", "C#", ["c#", "C#", "cs"]),
        new DocKernelInfo("markdown", "Markdown", ["md"]),
    };

    /// <summary>Runs <paramref name="path"/>; the report names the first failing cell, if any.</summary>
    public async Task<NotebookReport> RunAsync(string path, Options options)
    {
        path = Path.GetFullPath(path);
        var document = await Load(path, () => InteractiveDocument.LoadAsync(new FileInfo(path), Kernels));
        string name = Path.GetFileName(path);
        Formatter.ResetToDefault(); // formatters are process-wide: each notebook starts clean
        string previousDirectory = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(Path.GetDirectoryName(path)!);
        using var kernel = CreateKernel();
        var reports = new List<CellReport>();
        bool timedOut = false;
        try
        {
            int total = document.Elements.Count;
            foreach (var cell in document.Elements) // cells after a failure must not keep the source file's old outputs
            {
                cell.Outputs.Clear();
                cell.ExecutionOrder = 0;
            }
            for (int i = 0; i < total; i++)
            {
                var cell = document.Elements[i];
                if (cell.KernelName is "markdown" || string.IsNullOrWhiteSpace(cell.Contents)) continue;
                var watch = Stopwatch.StartNew();
                var send = kernel.SendAsync(new SubmitCode(cell.Contents, cell.KernelName ?? "csharp"));
                if (await Task.WhenAny(send, Task.Delay(options.CellTimeout)) != send)
                {
                    timedOut = true;
                    reports.Add(new CellReport(i + 1, watch.Elapsed, $"still running after {options.CellTimeout.TotalMinutes:0.#} min (time limit)"));
                    log.WriteLine($"{name}: cell {i + 1}/{total} FAILED after {watch.Elapsed.TotalSeconds:0.0} s: time limit reached");
                    break;
                }
                var result = await send;
                cell.ExecutionOrder = reports.Count + 1; // before collecting: a return value records it
                string? error = CellOutputs.Collect(result.Events, cell);
                reports.Add(new CellReport(i + 1, watch.Elapsed, error));
                log.WriteLine(error is null
                    ? $"{name}: cell {i + 1}/{total} ok ({watch.Elapsed.TotalSeconds:0.0} s)"
                    : $"{name}: cell {i + 1}/{total} FAILED after {watch.Elapsed.TotalSeconds:0.0} s: {error}");
                if (error is not null) break;
            }
        }
        finally
        {
            Directory.SetCurrentDirectory(previousDirectory);
        }
        string? written = options.OutputDir is null ? null : Write(document, path, options.OutputDir);
        return new NotebookReport(path, written, document.Elements.Count, reports, timedOut);
    }

    /// <summary>Parses a notebook file; a file that is not one becomes an <see cref="InvalidDataException"/> naming it.</summary>
    internal static async Task<InteractiveDocument> Load(string path, Func<Task<InteractiveDocument>> parse)
    {
        try
        {
            return await parse();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{path}: not a readable notebook ({e.Message})", e);
        }
    }

    private static CompositeKernel CreateKernel()
    {
        var csharp = new CSharpKernel().UseKernelHelpers().UseValueSharing();
        var composite = new CompositeKernel { csharp };
        composite.DefaultKernelName = csharp.Name;
        var extensions = new ExtensionLoader(composite);
        csharp.UseNugetDirective(async (kernel, packages) =>
        {
            // With a callback given, referencing the restored assemblies is the host's job (as in the dotnet-interactive tool).
            kernel.AddAssemblyReferences(packages.SelectMany(p => p.AssemblyPaths));
            await extensions.OnPackagesAsync(packages);
        }, forceRestore: false);
        return composite;
    }

    private static string Write(InteractiveDocument document, string source, string outputDir)
    {
        Directory.CreateDirectory(outputDir);
        string target = Path.Combine(Path.GetFullPath(outputDir), Path.GetFileNameWithoutExtension(source) + ".ipynb");
        string temporary = target + ".tmp";
        File.WriteAllText(temporary, document.ToJupyterJson());
        File.Move(temporary, target, overwrite: true); // readers never see half a notebook
        return target;
    }
}
