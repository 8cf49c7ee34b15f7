using System.CommandLine;
using Vla.Runtime;

namespace Vla.Cli.Commands;

/// <summary><c>vla diagnose</c>: runtime versions, devices and whether this host needed the libstdc++ fix.</summary>
internal static class DiagnoseCommand
{
    public static Command Create()
    {
        var command = new Command("diagnose", "Show TorchSharp/libtorch versions, devices and the native-library fix status.");
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => Task.FromResult(Run()), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    private static int Run()
    {
        var report = RuntimeReport.Collect();
        foreach (var (key, value) in report.Lines) Console.WriteLine($"{key,-22} {value}");
        return report.Healthy ? CliErrors.Ok : CliErrors.RuntimeFailure;
    }
}
