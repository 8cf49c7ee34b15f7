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
        catch (BadInputException e)
        {
            Report(e, verbose);
            return BadInput;
        }
        catch (VlaException e)
        {
            Report(e, verbose);
            return RuntimeFailure;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled.");
            return RuntimeFailure;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {e.Message}");
            if (verbose) Console.Error.WriteLine(e);
            else Console.Error.WriteLine("(run again with --verbose for the stack trace)");
            return RuntimeFailure;
        }
    }

    private static void Report(Exception e, bool verbose)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        if (verbose) Console.Error.WriteLine(e);
    }
}
