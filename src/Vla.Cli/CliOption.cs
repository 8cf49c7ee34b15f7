using System.CommandLine;

namespace Vla.Cli;

/// <summary>Builds options the way every <c>vla</c> command spells them: kebab-case, plus the seed's snake_case.</summary>
internal static class CliOption
{
    /// <summary>An option named <paramref name="name"/> (kebab-case) that also answers to its snake_case spelling.</summary>
    public static Option<T> Create<T>(string name, string description, bool required = false, params string[] aliases)
    {
        var option = new Option<T>(name, aliases) { Description = description, Required = required };
        string snake = name.Replace('-', '_');
        if (snake != name && snake.StartsWith("__", StringComparison.Ordinal)) option.Aliases.Add("--" + snake[2..]);
        return option;
    }
}
