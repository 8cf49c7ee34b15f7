using System.Diagnostics;
using System.Text;

namespace Vla.Kernel.Tests;

/// <summary>Runs a command to completion and keeps what it printed.</summary>
internal sealed record ChildProcess(int ExitCode, string Output, string Error)
{
    public static async Task<ChildProcess> RunAsync(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(20));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish:\n{output}\n{error}");
        }
        process.WaitForExit(); // drain the output events
        return new ChildProcess(process.ExitCode, output.ToString(), error.ToString());
    }

    /// <summary>The notebook runner, built next to these tests in the same configuration.</summary>
    public static string NotebookRunner
    {
        get
        {
            string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string dll = Repo.Path("src", "Vla.Notebooks", "bin", configuration, "net10.0", "vla-notebooks.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is missing; build the solution first.");
        }
    }
}
