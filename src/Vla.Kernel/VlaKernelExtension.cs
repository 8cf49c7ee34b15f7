using Microsoft.DotNet.Interactive;
using InteractiveKernel = Microsoft.DotNet.Interactive.Kernel;

namespace Vla.Kernel;

/// <summary>
/// The entry point .NET Interactive hosts call when <c>#r "nuget: Vla.Kernel"</c> brings this package in
/// (the DLL sits in the package's <c>interactive-extensions/dotnet</c> folder).
/// </summary>
public sealed class VlaKernelExtension : IKernelExtension
{
    /// <inheritdoc/>
    public Task OnLoadAsync(InteractiveKernel kernel)
    {
        VlaKernel.Register(kernel);
        KernelInvocationContext.Current?.DisplayAs(
            "Vla.Kernel is loaded: <code>Episode</code>, <code>NormalizationStats</code>, <code>TrainingHistory</code>, " +
            "<code>EvalResult</code> and <code>ActionChunk</code> display as charts; try <code>#!vla episode --data PATH --index 0</code>.",
            "text/html");
        return Task.CompletedTask;
    }
}
