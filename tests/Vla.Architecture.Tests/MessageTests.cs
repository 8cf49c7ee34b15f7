using System.Text.RegularExpressions;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Vla.Tests.Architecture;

/// <summary>Vla.Core speaks in config keys and API members; the command line adds its flags where it reports Core's words.</summary>
public sealed partial class MessageTests
{
    /// <summary>mpirun's own options, which WorkerLauncher passes to it (arguments, not words for a user).</summary>
    private static readonly HashSet<string> MpirunOptions = ["--oversubscribe", "--bind-to", "--tag-output", "--allow-run-as-root"];

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z-]+")]
    private static partial Regex Flag();

    [Fact]
    public void No_string_in_vla_core_names_a_command_line_flag()
    {
        using var module = ModuleDefinition.ReadModule(typeof(Vla.Checkpoints.Checkpoint).Assembly.Location);
        var found = module.GetTypes().SelectMany(t => t.Methods).Where(m => m.HasBody)
            .SelectMany(m => m.Body.Instructions.Where(i => i.OpCode == OpCodes.Ldstr).Select(i => (Method: m, Text: (string)i.Operand)))
            .SelectMany(s => Flag().Matches(s.Text).Select(f => (s.Method, Flag: f.Value)))
            .Where(f => !MpirunOptions.Contains(f.Flag))
            .Select(f => $"{f.Method.DeclaringType.FullName}.{f.Method.Name}: {f.Flag}").Distinct().ToList();
        Assert.True(found.Count == 0, "flags in Vla.Core's strings: " + string.Join("; ", found));
    }
}
