using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Vla.Kernel.Tests;

/// <summary>
/// The notebooks in the host VS Code runs them in: the dotnet-interactive tool over its stdio protocol, one
/// SubmitCode per cell, a cell failing on CommandFailed.
/// </summary>
[Collection(NotebookCollection.Name)]
public sealed class StdioHostTests(PackedFeed feed)
{
    /// <summary>The tool version VS Code's Polyglot Notebooks uses here.</summary>
    private const string ToolVersion = "1.0.712001";

    [Theory]
    [InlineData("01-data.ipynb")]
    [InlineData("03-evaluate.ipynb")]
    [InlineData("04-inference.ipynb")]
    public async Task The_notebook_runs_in_the_dotnet_interactive_tool(string notebook)
    {
        string tool = await EnsureToolAsync();
        var cells = CodeCells(Repo.Path("notebooks", notebook));
        var start = new ProcessStartInfo(tool, ["stdio", "--default-kernel", "csharp"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Repo.Path("notebooks"),
        };
        start.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["RestoreAdditionalProjectSources"] = feed.Folder;
        using var host = Process.Start(start)!;
        host.ErrorDataReceived += (_, _) => { };
        host.BeginErrorReadLine();
        try
        {
            for (int i = 0; i < cells.Count; i++)
            {
                string token = $"cell-{cells[i].Number}";
                var command = new JsonObject
                {
                    ["commandType"] = "SubmitCode", ["token"] = token,
                    ["command"] = new JsonObject { ["code"] = cells[i].Code, ["targetKernelName"] = "csharp" },
                };
                await host.StandardInput.WriteLineAsync(command.ToJsonString());
                await host.StandardInput.FlushAsync();
                string? failure = await WaitForCompletionAsync(host.StandardOutput, token).WaitAsync(TimeSpan.FromMinutes(10));
                Assert.True(failure is null, $"{notebook}: cell {cells[i].Number} failed in dotnet-interactive: {failure}");
            }
        }
        finally
        {
            await host.StandardInput.WriteLineAsync(new JsonObject { ["commandType"] = "Quit", ["token"] = "quit", ["command"] = new JsonObject() }.ToJsonString());
            await host.StandardInput.FlushAsync();
            if (!host.WaitForExit(TimeSpan.FromSeconds(30))) host.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Reads events until the command <paramref name="token"/> completes; returns the failure message or null.</summary>
    private static async Task<string?> WaitForCompletionAsync(StreamReader events, string token)
    {
        while (await events.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith('{')) continue; // the tool's banner
            var e = JsonNode.Parse(line)!;
            if (e["command"]?["token"]?.GetValue<string>() != token) continue;
            switch (e["eventType"]?.GetValue<string>())
            {
                case "CommandSucceeded": return null;
                case "CommandFailed": return e["event"]?["message"]?.GetValue<string>() ?? "(no message)";
            }
        }
        return "the tool exited";
    }

    private static List<(int Number, string Code)> CodeCells(string path)
    {
        var notebook = JsonNode.Parse(File.ReadAllText(path))!;
        var cells = notebook["cells"]!.AsArray();
        var code = new List<(int, string)>();
        for (int i = 0; i < cells.Count; i++)
            if (cells[i]!["cell_type"]!.GetValue<string>() == "code")
                code.Add((i + 1, string.Concat(cells[i]!["source"]!.AsArray().Select(s => s!.GetValue<string>()))));
        return code;
    }

    /// <summary>The tool from PATH, else a copy this test installs once under ~/.cache/vla/tools.</summary>
    private static async Task<string> EnsureToolAsync()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (File.Exists(Path.Combine(dir, "dotnet-interactive"))) return Path.Combine(dir, "dotnet-interactive");
        string folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "vla", "tools", "dotnet-interactive-" + ToolVersion);
        string tool = Path.Combine(folder, "dotnet-interactive");
        if (File.Exists(tool)) return tool;
        var install = await ChildProcess.RunAsync("dotnet", ["tool", "install", "Microsoft.dotnet-interactive", "--version", ToolVersion, "--tool-path", folder]);
        Assert.True(install.ExitCode == 0, $"could not install the dotnet-interactive tool:\n{install.Output}\n{install.Error}");
        return tool;
    }
}
