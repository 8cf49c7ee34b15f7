namespace Vla.Cli;

/// <summary>
/// Vla.Core speaks in config keys and API members, never in command-line flags; where one of its messages names a member
/// the command line sets from a flag, this puts the flag the user typed in its place.
/// </summary>
internal static class CliFlags
{
    private static readonly (string Member, string Flag)[] Table =
    [
        ("Trainer.Options.ResumeCheckpoint", "--resume-checkpoint"),
        ("ReplayOptions.Delay", "--delay"),
        ("ReplayOptions.Execute", "--execute"),
        ("DataOptions.Episodes", "--episodes"),
        ("WorkerLauncher.Run", "'vla train --nproc-per-node'"),
        ("ServerOptions.MaxMessageMb", "--max-message-mb"),
        ("ServerOptions.MaxBatch", "--max-batch"),
        ("ServerOptions.BatchWindowMs", "--batch-window-ms"),
        ("ServerOptions.Host", "--host"),
        ("ServerOptions.Layout", "--obs-map"),
        ("LeRobotPolicyFolder.Load's tokenizer", "--tokenizer"),
    ];

    /// <summary><paramref name="message"/> with every API member of the table replaced by its flag.</summary>
    public static string Translate(string message)
    {
        foreach (var (member, flag) in Table) message = message.Replace(member, flag, StringComparison.Ordinal);
        return message;
    }
}
