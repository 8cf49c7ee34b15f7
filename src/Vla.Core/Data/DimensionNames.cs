namespace Vla.Data;

/// <summary>Names of vector dimensions for people: the data's own (LeRobot's <c>names</c>, e.g. <c>kLeftShoulderPitch</c>) or <c>dim N</c>.</summary>
public static class DimensionNames
{
    /// <summary>The name of dimension <paramref name="dim"/>: <paramref name="names"/>[dim] when given, else <c>dim N</c>.</summary>
    public static string Of(IReadOnlyList<string>? names, int dim) =>
        names is not null && dim < names.Count && !string.IsNullOrEmpty(names[dim]) ? names[dim] : $"dim {dim}";
}
