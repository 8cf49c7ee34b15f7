using System.Reflection;
using NetArchTest.Rules;

namespace Vla.Tests.Architecture;

/// <summary>
/// DESIGN.md's layering (Layout), checked on the compiled assemblies so it stays true without anyone re-reading it: inside
/// Vla.Core "uses" runs one way, and each layer may also use what the layers it uses may use; Runtime is the ground every
/// layer stands on. Between projects: Cli → Core, Server; Server → Core, Client; Kernel → Core; Client → nothing of ours;
/// Core → none of them; the notebook runner does not load Vla.Core.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Core = typeof(Vla.Checkpoints.Checkpoint).Assembly;

    /// <summary>The uses-edges DESIGN.md writes inside Vla.Core (before closing them transitively).</summary>
    private static readonly Dictionary<string, string[]> Uses = new()
    {
        ["Runtime"] = [],
        ["Config"] = [],
        ["Data"] = ["Config"],
        ["Model"] = ["Config"],
        ["Distributed"] = [],
        ["Checkpoints"] = ["Model", "Data"],
        ["Inference"] = ["Checkpoints", "Data"],
        ["Evaluation"] = ["Inference", "Data"],
        ["Training"] = ["Checkpoints", "Distributed", "Model", "Data"],
    };

    /// <summary>
    /// The one edge added to DESIGN.md's: the loader collates batches with the policy's input transform (PolicyTransform,
    /// PolicyInput), as DESIGN's Policies section has it use them; the rest of Data knows nothing of Model.
    /// </summary>
    private const string LoadingNamespace = "Vla.Data.Loading";

    /// <summary>Every layer <paramref name="layer"/> may use, directly or through the layers it uses, and Runtime.</summary>
    private static HashSet<string> Allowed(string layer)
    {
        var allowed = new HashSet<string> { layer, "Runtime" };
        var open = new Stack<string>(Uses[layer]);
        while (open.TryPop(out var next))
            if (allowed.Add(next)) foreach (var further in Uses[next]) open.Push(further);
        return allowed;
    }

    public static TheoryData<string> Layers => [.. Uses.Keys];

    [Theory]
    [MemberData(nameof(Layers))]
    public void A_core_layer_uses_only_the_layers_the_design_lets_it(string layer)
    {
        var forbidden = Uses.Keys.Except(Allowed(layer)).Select(l => $"Vla.{l}").ToArray();
        var types = Types.InAssembly(Core).That().ResideInNamespace($"Vla.{layer}");
        if (layer == "Data") types = types.And().DoNotResideInNamespace(LoadingNamespace);
        var result = types.ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        Assert.True(result.IsSuccessful, $"Vla.{layer} uses what DESIGN.md does not let it: {Offenders(result, forbidden)}");
    }

    [Fact]
    public void The_loader_uses_the_policy_transform_and_nothing_else_above_data()
    {
        var forbidden = Uses.Keys.Except(Allowed("Data")).Except(["Model"]).Select(l => $"Vla.{l}").ToArray();
        var result = Types.InAssembly(Core).That().ResideInNamespace(LoadingNamespace).ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        Assert.True(result.IsSuccessful, $"{LoadingNamespace} uses what it should not: {Offenders(result, forbidden)}");
    }

    [Fact]
    public void Every_core_type_is_in_a_layer_the_design_names()
    {
        var outside = Core.GetTypes().Where(t => t.Namespace is { } ns && ns.StartsWith("Vla.", StringComparison.Ordinal)
            && !Uses.Keys.Any(l => ns == $"Vla.{l}" || ns.StartsWith($"Vla.{l}.", StringComparison.Ordinal))).Select(t => t.FullName).ToList();
        Assert.True(outside.Count == 0, $"types outside the named layers (add the layer to DESIGN.md and to this test): {string.Join(", ", outside.Take(10))}");
    }

    [Theory]
    [InlineData("Vla.Core", new[] { "Vla.Cli", "Vla.Server", "Vla.Client", "Vla.Kernel", "Vla.Notebooks" })]
    [InlineData("Vla.Client", new[] { "Vla.Core", "Vla.Cli", "Vla.Server", "Vla.Kernel", "Vla.Notebooks" })]
    [InlineData("Vla.Server", new[] { "Vla.Cli", "Vla.Kernel", "Vla.Notebooks" })]
    [InlineData("Vla.Kernel", new[] { "Vla.Cli", "Vla.Server", "Vla.Client", "Vla.Notebooks" })]
    [InlineData("vla", new[] { "Vla.Kernel", "Vla.Notebooks" })]
    [InlineData("vla-notebooks", new[] { "Vla.Core", "Vla.Cli", "Vla.Server", "Vla.Client", "Vla.Kernel" })]
    public void A_project_references_only_the_projects_the_design_lets_it(string assembly, string[] forbidden)
    {
        var references = Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Empty(references.Intersect(forbidden));
    }

    private static Assembly Load(string name)
    {
        string file = Path.Combine(AppContext.BaseDirectory, $"{name}.dll");
        if (File.Exists(file)) return Assembly.LoadFrom(file);
        // The notebook runner is built beside these tests' sources, not copied into their output.
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        return Assembly.LoadFrom(Path.Combine(RepoPaths.Root, "src", "Vla.Notebooks", "bin", configuration, "net10.0", $"{name}.dll"));
    }

    private static string Offenders(NetArchTest.Rules.TestResult result, string[] forbidden) =>
        string.Join(", ", (result.FailingTypeNames ?? []).Take(8)) + $" (forbidden: {string.Join(", ", forbidden)})";
}
