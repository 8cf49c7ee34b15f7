using System.Reflection;
using System.Runtime.Loader;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Events;
using InteractiveKernel = Microsoft.DotNet.Interactive.Kernel;

namespace Vla.Notebooks;

/// <summary>
/// Loads the kernel extensions that NuGet packages carry, as the dotnet-interactive tool does (the
/// libraries leave this to the host): every DLL in a package's <c>interactive-extensions/dotnet</c>
/// folder, each public <see cref="IKernelExtension"/> in it, then the folder's <c>extension.dib</c>.
/// </summary>
internal sealed class ExtensionLoader(InteractiveKernel root)
{
    private readonly HashSet<string> _loaded = [];

    /// <summary>Called by the #r "nuget:" directive after its packages resolve.</summary>
    public async Task OnPackagesAsync(IReadOnlyList<ResolvedPackageReference> packages)
    {
        foreach (var package in packages)
        {
            string folder = Path.Combine(package.PackageRoot, "interactive-extensions", "dotnet");
            if (!Directory.Exists(folder)) continue;
            foreach (string dll in Directory.GetFiles(folder, "*.dll").Order(StringComparer.Ordinal))
                await LoadAssemblyAsync(dll);
            string script = Path.Combine(folder, "extension.dib");
            if (File.Exists(script) && KernelInvocationContext.Current is { } context)
                await root.LoadAndRunInteractiveDocument(new FileInfo(script), context.Command);
        }
    }

    private async Task LoadAssemblyAsync(string path)
    {
        string name = AssemblyName.GetAssemblyName(path).FullName;
        if (!_loaded.Add(name)) return;
        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(path);
        var extensions = assembly.ExportedTypes
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IKernelExtension).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null);
        foreach (var type in extensions)
        {
            var extension = (IKernelExtension)Activator.CreateInstance(type)!;
            try
            {
                await extension.OnLoadAsync(root);
            }
            catch (Exception e) when (KernelInvocationContext.Current is { } context)
            {
                context.Publish(new ErrorProduced($"Failed to load kernel extension {type.FullName} from {path}: {e.Message}", context.Command));
                context.Fail(context.Command, e);
            }
        }
    }
}
