namespace Vla.Runtime;

/// <summary>What <see cref="TorchRuntime"/> found and did for this process.</summary>
/// <param name="FixApplied">True when the host's libstdc++ lacked a version and the patched copy was loaded.</param>
/// <param name="OriginalPath">TorchSharp's own <c>libLibTorchSharp.so</c>, when found.</param>
/// <param name="PatchedPath">The patched copy that was loaded, when the fix applied.</param>
/// <param name="WeakenedVersions">The version needs marked weak in the copy.</param>
/// <param name="Error">Why preparation failed, or null.</param>
public sealed record TorchRuntimeStatus(
    bool FixApplied,
    string? OriginalPath,
    string? PatchedPath,
    IReadOnlyList<string> WeakenedVersions,
    string? Error)
{
    /// <summary>True when TorchSharp's native library can be loaded in this process.</summary>
    public bool Ready => Error is null;
}
