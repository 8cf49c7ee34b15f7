using Vla.Runtime;

namespace Vla.Cli;

/// <summary>Turns exceptions into the exit codes and one-sentence messages DESIGN.md promises.</summary>
internal static class CliErrors
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code for a runtime failure.</summary>
    public const int RuntimeFailure = 1;
    /// <summary>Exit code for bad usage or bad input.</summary>
    public const int BadInput = 2;

    /// <summary>Runs <paramref name="body"/>, mapping failures to an exit code and a message on stderr.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body, bool verbose)
    {
        try
        {
            return await body();
        }
        catch (Exception e)
        {
            return Report(e, verbose);
        }
    }

    /// <summary>
    /// Writes <paramref name="e"/> to stderr as one sentence (prefixed with <paramref name="where"/>, e.g. "rank 1: ")
    /// and returns its exit code: 2 for bad input, 1 for anything else.
    /// </summary>
    public static int Report(Exception e, bool verbose, string where = "")
    {
        switch (e)
        {
            case BadInputException:
                Console.Error.WriteLine($"error: {where}{CliFlags.Translate(e.Message)}");
                if (verbose) Console.Error.WriteLine(e);
                return BadInput;
            case VlaException:
                Console.Error.WriteLine($"error: {where}{CliFlags.Translate(e.Message)}");
                if (verbose) Console.Error.WriteLine(e);
                return RuntimeFailure;
            case OperationCanceledException:
                Console.Error.WriteLine($"error: {where}cancelled.");
                return RuntimeFailure;
            default:
                Console.Error.WriteLine($"error: {where}unexpected {e.GetType().Name}: {e.Message}");
                if (verbose) Console.Error.WriteLine(e);
                else Console.Error.WriteLine("(run again with --verbose for the stack trace)");
                return RuntimeFailure;
        }
    }
}
