using Vla.Tests;
using System.Text.Json;

namespace Vla.Kernel.Tests;

/// <summary>The headless runner on small notebooks made here: failures name the notebook, cell and error.</summary>
public sealed class NotebookRunnerTests : IDisposable
{
    private readonly TempFolder _folder = new("vla-nb-");

    public void Dispose() => _folder.Dispose();

    private string Notebook(string name, params (string Kind, string Source)[] cells)
    {
        var json = new
        {
            cells = cells.Select(c => c.Kind == "md"
                ? (object)new { cell_type = "markdown", metadata = new { }, source = c.Source }
                : new { cell_type = "code", execution_count = (int?)null, metadata = new { polyglot_notebook = new { kernelName = "csharp" } }, outputs = Array.Empty<object>(), source = c.Source }),
            metadata = new { kernelspec = new { display_name = ".NET (C#)", language = "C#", name = ".net-csharp" },
                             polyglot_notebook = new { kernelInfo = new { defaultKernelName = "csharp", items = new[] { new { name = "csharp", aliases = Array.Empty<string>() } } } } },
            nbformat = 4, nbformat_minor = 5,
        };
        string path = Path.Combine(_folder.Root, name);
        File.WriteAllText(path, JsonSerializer.Serialize(json));
        return path;
    }

    [Fact]
    public async Task A_failing_cell_stops_the_run_and_is_named_with_its_notebook_number_and_error()
    {
        string path = Notebook("broken.ipynb",
            ("md", "# A notebook with a bug"),
            ("code", "var answer = 6 * 7;\nConsole.WriteLine($\"answer {answer}\");"),
            ("code", "throw new InvalidOperationException(\"the sensor is unplugged\");"),
            ("code", "Console.WriteLine(\"never reached\");"));
        string output = Path.Combine(_folder.Root, "out");

        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", path, "--output-dir", output]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"{path}: cell 3 failed: System.InvalidOperationException: the sensor is unplugged", run.Error);
        Assert.Contains("broken.ipynb: cell 2/4 ok", run.Output);
        Assert.DoesNotContain("cell 4/4", run.Output);
        string executed = File.ReadAllText(Path.Combine(output, "broken.ipynb"));
        Assert.Contains("answer 42", executed);            // the cell before the failure kept its output
        Assert.Contains("the sensor is unplugged", executed); // and the failing cell its error
        Assert.DoesNotContain("never reached\\n", executed.Replace("Console.WriteLine(\\\"never reached\\\")", ""));
    }

    [Fact]
    public async Task A_compile_error_names_the_cell_and_the_compiler_message()
    {
        string path = Notebook("typo.ipynb", ("code", "int x = 1;"), ("code", "x.Lenght"));
        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", path]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"{path}: cell 2 failed: (1,3): error CS1061: 'int' does not contain a definition for 'Lenght'", run.Error);
    }

    [Fact]
    public async Task A_working_notebook_passes_runs_in_its_own_folder_and_prints_per_cell_timing()
    {
        File.WriteAllText(Path.Combine(_folder.Root, "beside.txt"), "found");
        string path = Notebook("ok.ipynb", ("code", "System.IO.File.ReadAllText(\"beside.txt\")"), ("code", "1.5.ToString()"));
        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", path, "--output-dir", Path.Combine(_folder.Root, "out")]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.Matches(@"ok\.ipynb: cell 1/2 ok \(\d+\.\d s\)", run.Output);
        Assert.Contains("ok.ipynb: 2 code cells ok", run.Output);
        Assert.Contains("found", File.ReadAllText(Path.Combine(_folder.Root, "out", "ok.ipynb")));
    }

    [Fact]
    public async Task Cells_after_a_failure_keep_no_outputs_from_the_source_file()
    {
        string path = Notebook("stale.ipynb", ("code", "throw new InvalidOperationException(\"first cell fails\");"), ("code", "1 + 1"));
        var notebook = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        notebook["cells"]![1]!["execution_count"] = 7;
        notebook["cells"]![1]!["outputs"] = new System.Text.Json.Nodes.JsonArray(System.Text.Json.Nodes.JsonNode.Parse(
            """{"output_type": "stream", "name": "stdout", "text": ["an output from last week"]}"""));
        File.WriteAllText(path, notebook.ToJsonString());
        string output = Path.Combine(_folder.Root, "out");

        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", path, "--output-dir", output]);

        Assert.Equal(1, run.ExitCode);
        string executed = File.ReadAllText(Path.Combine(output, "stale.ipynb"));
        Assert.Contains("first cell fails", executed);
        Assert.DoesNotContain("an output from last week", executed);
    }

    [Fact]
    public async Task Every_path_is_checked_before_the_first_notebook_runs()
    {
        string good = Notebook("good.ipynb", ("code", "System.IO.File.WriteAllText(\"ran.txt\", \"yes\");"));
        string malformed = Path.Combine(_folder.Root, "malformed.ipynb");
        File.WriteAllText(malformed, "{ this is not json");

        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", good, Path.Combine(_folder.Root, "typo.ipynbx")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("typo.ipynbx: not a notebook file (.ipynb or .dib).", run.Error);
        Assert.False(File.Exists(Path.Combine(_folder.Root, "ran.txt")), "the first notebook ran although the second path was bad");

        run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", malformed]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"{malformed}: not a readable notebook (", run.Error);
        Assert.DoesNotContain("   at ", run.Error); // one sentence, no stack trace
    }

    [Fact]
    public async Task A_path_that_is_not_a_notebook_exits_2()
    {
        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.NotebookRunner, "run", Path.Combine(_folder.Root, "missing.ipynb")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("missing.ipynb: not a notebook file (.ipynb or .dib).", run.Error);
    }
}
