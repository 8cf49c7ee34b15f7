using System.CommandLine;
using System.Globalization;
using Vla.Cli;
using Vla.Cli.Commands;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var run = VlaCommandLine.InvokeAsync(args);
Vla.Runtime.OpenMpTeam.Release(); // from here the main thread only waits: its OpenMP team must not slow the thread that computes
return await run;

namespace Vla.Cli
{
    /// <summary>The <c>vla</c> root command and its verbs.</summary>
    internal static class VlaCommandLine
    {
        /// <summary>Adds the stack trace to error messages.</summary>
        public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Show stack traces with errors.", Recursive = true };

        /// <summary>Builds the command tree.</summary>
        public static RootCommand Create()
        {
            var root = new RootCommand("vla: Vision-Language-Action workbench (data, training, evaluation, inference).");
            root.Options.Add(Verbose);
            root.Subcommands.Add(MakeSampleDataCommand.Create());
            root.Subcommands.Add(InspectCommand.Create());
            root.Subcommands.Add(StatsCommand.Create());
            root.Subcommands.Add(TrainCommand.Create());
            root.Subcommands.Add(EvalCommand.Create());
            root.Subcommands.Add(PredictCommand.Create());
            root.Subcommands.Add(ReplayCommand.Create());
            root.Subcommands.Add(ServeCommand.Create());
            root.Subcommands.Add(CaptionCommand.Create());
            root.Subcommands.Add(ExportCommand.Create());
            root.Subcommands.Add(DiagnoseCommand.Create());
            return root;
        }

        /// <summary>The arguments this process was started with (the launcher passes them on to its workers).</summary>
        public static IReadOnlyList<string> Arguments { get; private set; } = [];

        /// <summary>Parses and runs; parse errors are bad usage (exit 2).</summary>
        public static async Task<int> InvokeAsync(string[] args)
        {
            Arguments = args;
            var parse = Create().Parse(args);
            if (parse.Errors.Count > 0)
            {
                foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
                Console.Error.WriteLine("Run 'vla --help' (or 'vla <command> --help') for usage.");
                return CliErrors.BadInput;
            }
            // Training (Preemption: finish the step, maybe save) and serving (answer the requests in flight) handle SIGINT/SIGTERM
            // themselves; the rest cancel their token.
            bool ownSignals = parse.CommandResult.Command.Name is "train" or "serve";
            return await parse.InvokeAsync(ownSignals ? new InvocationConfiguration { ProcessTerminationTimeout = null } : new InvocationConfiguration());
        }
    }
}
