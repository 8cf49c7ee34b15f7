namespace Vla.Tests;

/// <summary>
/// Test classes that use what a process has only once run in this collection, one at a time and after every other test,
/// with nothing beside them: TorchSharp's global generator (a model's new layers draw from it under ModelFactory's lock,
/// and a test drawing beside that shifts them, so "same seed, same run" would fail now and then), the no-GC region
/// NativeCallGuard holds around model calls (another test's allocations would end it), and the process's OpenMP teams and
/// BLAS dispatch. Every other test class runs in parallel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWide
{
    /// <summary>The collection's name.</summary>
    public const string Name = "process-wide resources";
}
