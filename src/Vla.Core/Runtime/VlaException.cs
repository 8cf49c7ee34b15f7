namespace Vla.Runtime;

/// <summary>A failure worth one clear sentence to the user (the command line exits with 1).</summary>
public class VlaException : Exception
{
    /// <summary>Creates the exception with its user-facing message.</summary>
    public VlaException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Bad usage or bad input: a file, row, column or key at fault (the command line exits with 2).</summary>
public class BadInputException : VlaException
{
    /// <summary>Creates the exception; the message names what was wrong and where.</summary>
    public BadInputException(string message, Exception? inner = null) : base(message, inner) { }
}
