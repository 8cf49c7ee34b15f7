using System.CommandLine;
using System.Globalization;
using Vla.Notebooks;

// Numbers, dates and even compiler messages follow the culture: pin it so runs read the same everywhere.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
var log = Console.Out; // the kernel swaps Console.Out during cells; progress goes to the real stdout

var paths = new Argument<string[]>("notebooks") { Description = "Notebooks (.ipynb or .dib) to run, in order.", Arity = ArgumentArity.OneOrMore };
var outputDir = new Option<string?>("--output-dir") { Description = "Write each executed notebook (with outputs) here." };
var packages = new Option<string?>("--packages") { Description = "Local NuGet feed for #r \"nuget:\" (default: the nearest artifacts/packages above the notebook)." };
var timeout = new Option<double>("--cell-timeout-minutes") { Description = "Fail a cell that runs longer than this.", DefaultValueFactory = _ => 15 };
var run = new Command("run", "Execute notebooks headless; stop at the first failing cell, naming notebook, cell and error.") { paths, outputDir, packages, timeout };
run.SetAction(async parse =>
{
    var runner = new NotebookRunner(log);
    string[] notebooks = parse.GetValue(paths)!;
    // Every path is checked before the first notebook runs, so a typo in the last one costs nothing.
    if (notebooks.FirstOrDefault(p => !File.Exists(p) || Path.GetExtension(p) is not (".ipynb" or ".dib")) is { } bad)
        return Fail($"{bad}: not a notebook file (.ipynb or .dib).");
    if (parse.GetValue(timeout) is not > 0)
        return Fail($"--cell-timeout-minutes must be a positive number of minutes, not {parse.GetValue(timeout)}.");
    foreach (string path in notebooks)
    {
        string? feed = parse.GetValue(packages) is { } given ? Path.GetFullPath(given) : FindFeed(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (feed is not null) Environment.SetEnvironmentVariable("RestoreAdditionalProjectSources", feed); // in-kernel restores ignore nuget.config files
        NotebookReport report;
        try
        {
            report = await runner.RunAsync(path, new NotebookRunner.Options(parse.GetValue(outputDir), TimeSpan.FromMinutes(parse.GetValue(timeout))));
        }
        catch (InvalidDataException e)
        {
            return Fail(e.Message);
        }
        if (report.ExecutedPath is not null) log.WriteLine($"{Path.GetFileName(path)}: executed copy written to {report.ExecutedPath}");
        if (report.Failure is { } failed)
        {
            Console.Error.WriteLine($"{path}: cell {failed.Number} failed: {failed.Error}");
            if (report.TimedOut) Environment.Exit(1); // a CPU-bound cell cannot be cancelled; end the process
            return 1;
        }
        log.WriteLine($"{Path.GetFileName(path)}: {report.Cells.Count} code cells ok in {report.Cells.Sum(c => c.Elapsed.TotalSeconds):0.0} s");
    }
    return 0;
});

var executed = new Argument<string[]>("notebooks") { Description = "Executed notebooks (.ipynb) to export.", Arity = ArgumentArity.OneOrMore };
var htmlDir = new Option<string>("--output-dir") { Description = "Folder for the .html pages.", Required = true };
var plotly = new Option<string?>("--plotly-js") { Description = "plotly.min.js to embed in place of the CDN script, so Plotly charts render offline." };
var export = new Command("export", "Write executed notebooks as standalone HTML pages (images and charts inline).") { executed, htmlDir, plotly };
export.SetAction(async parse =>
{
    if (parse.GetValue(plotly) is { } scriptFile && !File.Exists(scriptFile))
        return Fail($"{scriptFile}: --plotly-js file not found.");
    if (parse.GetValue(executed)!.FirstOrDefault(p => !File.Exists(p) || Path.GetExtension(p) != ".ipynb") is { } missing)
        return Fail($"{missing}: not an executed notebook file (.ipynb).");
    string? script = parse.GetValue(plotly) is { } file ? await File.ReadAllTextAsync(file) : null;
    Directory.CreateDirectory(parse.GetValue(htmlDir)!);
    foreach (string path in parse.GetValue(executed)!)
    {
        string target = Path.Combine(parse.GetValue(htmlDir)!, Path.GetFileNameWithoutExtension(path) + ".html");
        string page;
        try
        {
            page = await NotebookHtmlExporter.ExportAsync(path, script);
        }
        catch (InvalidDataException e)
        {
            return Fail(e.Message);
        }
        await File.WriteAllTextAsync(target, page);
        log.WriteLine($"{path} -> {target}");
    }
    return 0;
});

var root = new RootCommand("Runs the Vla workbench notebooks headless, as CI does.") { run, export };
return await root.Parse(args).InvokeAsync();

/// <summary>Bad usage or input: one sentence on stderr, exit code 2.</summary>
static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 2;
}

static string? FindFeed(string folder)
{
    for (var dir = new DirectoryInfo(folder); dir is not null; dir = dir.Parent)
    {
        string candidate = Path.Combine(dir.FullName, "artifacts", "packages");
        if (Directory.Exists(candidate)) return candidate;
    }
    return null;
}
