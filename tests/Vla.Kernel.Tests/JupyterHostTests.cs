using System.Text.Json.Nodes;

namespace Vla.Kernel.Tests;

/// <summary>
/// A notebook in real Jupyter with the dotnet-interactive kernel (what VS Code Polyglot runs too): nothing the user did not
/// ask for reaches the notebook, not even a compiler warning.
/// </summary>
[Collection(NotebookCollection.Name)]
public sealed class JupyterHostTests(PackedFeed feed)
{
    /// <summary>The kernel's version users install (<c>dotnet tool install -g Microsoft.dotnet-interactive</c>); .ci/run installs this one.</summary>
    private const string KernelVersion = "1.0.712001";

    [Fact]
    public async Task Notebook_01_runs_in_jupyter_with_no_output_on_stderr_and_no_error()
    {
        JupyterRequirement.SkipUnlessAvailable();
        // A copy beside the original (the notebook's paths are relative to its folder) that first adds the packed feed.
        string copy = Repo.Path("notebooks", $"zz-jupyter-{Environment.ProcessId}.ipynb");
        var notebook = JsonNode.Parse(File.ReadAllText(Repo.Path("notebooks", "01-data.ipynb")))!.AsObject();
        var cells = notebook["cells"]!.AsArray();
        int first = cells.Select((c, i) => (c, i)).First(x => x.c!["cell_type"]!.GetValue<string>() == "code").i;
        cells.Insert(first, new JsonObject
        {
            ["cell_type"] = "code", ["execution_count"] = null, ["outputs"] = new JsonArray(),
            ["metadata"] = new JsonObject { ["dotnet_interactive"] = new JsonObject { ["language"] = "csharp" } },
            ["source"] = new JsonArray($"#i \"nuget: {feed.Folder}\""),
        });
        using var output = new Vla.Tests.TempFolder("vla-jupyter-");
        string executed = output.PathOf("01-data.ipynb");
        try
        {
            File.WriteAllText(copy, notebook.ToJsonString());
            var run = await ChildProcess.RunAsync("jupyter", ["nbconvert", "--to", "notebook", "--execute", copy, "--output", executed,
                "--ExecutePreprocessor.kernel_name=.net-csharp", "--ExecutePreprocessor.timeout=900"], Repo.Path("notebooks"),
                new Dictionary<string, string> { ["PATH"] = $"{JupyterRequirement.ToolFolder}:{Environment.GetEnvironmentVariable("PATH")}" });
            Assert.True(run.ExitCode == 0, $"jupyter nbconvert failed:\n{run.Error}");
        }
        finally
        {
            File.Delete(copy);
        }
        var problems = JsonNode.Parse(File.ReadAllText(executed))!["cells"]!.AsArray()
            .SelectMany((cell, i) => (cell!["outputs"]?.AsArray() ?? []).Select(o => (Cell: i, Output: o!)))
            .Where(x => x.Output["output_type"]!.GetValue<string>() == "error"
                || (x.Output["output_type"]!.GetValue<string>() == "stream" && x.Output["name"]!.GetValue<string>() == "stderr"))
            .Select(x => $"cell {x.Cell}: {x.Output.ToJsonString()[..Math.Min(300, x.Output.ToJsonString().Length)]}").ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>Jupyter and the dotnet-interactive kernel are system components: absent, the test skips, unless CI asks for them (VLA_REQUIRE_JUPYTER=1).</summary>
    private static class JupyterRequirement
    {
        /// <summary>Where <c>dotnet tool install -g</c> puts the kernel (the kernel spec runs <c>dotnet interactive</c>, which looks for it on PATH).</summary>
        public static string ToolFolder => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools");

        public static void SkipUnlessAvailable()
        {
            bool OnPath(string file) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, file)));
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            bool kernelSpec = File.Exists(Path.Combine(home, ".local", "share", "jupyter", "kernels", ".net-csharp", "kernel.json"));
            bool tool = OnPath("dotnet-interactive") || File.Exists(Path.Combine(ToolFolder, "dotnet-interactive"));
            if (OnPath("jupyter") && kernelSpec && tool) return;
            string reason = "Jupyter with the .NET kernel is not installed (apt-get install jupyter-nbconvert jupyter-client; " +
                $"dotnet tool install -g Microsoft.dotnet-interactive --version {KernelVersion}; dotnet interactive jupyter install).";
            if (Environment.GetEnvironmentVariable("VLA_REQUIRE_JUPYTER") == "1") Assert.Fail(reason + " VLA_REQUIRE_JUPYTER=1 requires it.");
            Assert.Skip(reason);
        }
    }
}
