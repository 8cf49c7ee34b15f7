namespace Vla.Model.Weights;

/// <summary>
/// The one table that maps Hugging Face PaliGemma tensor names to this backbone's parameter names. Both
/// the Hub's original layout and the layout of transformers ≥ 4.52 are accepted; names already in the
/// backbone's own layout pass through unchanged.
/// </summary>
public static class HuggingFaceNames
{
    /// <summary>Prefix rewrites, tried in order; the first match wins.</summary>
    private static readonly (string From, string To)[] Prefixes =
    [
        // transformers < 4.52 (the Hub's google/paligemma-* files)
        ("vision_tower.vision_model.embeddings.", "vision_tower."),
        ("vision_tower.vision_model.encoder.layers.", "vision_tower.layers."),
        ("vision_tower.vision_model.post_layernorm.", "vision_tower.post_layernorm."),
        ("multi_modal_projector.linear.", "multi_modal_projector."),
        ("language_model.model.", "language_model."),
        // transformers ≥ 4.52
        ("model.vision_tower.vision_model.embeddings.", "vision_tower."),
        ("model.vision_tower.vision_model.encoder.layers.", "vision_tower.layers."),
        ("model.vision_tower.vision_model.post_layernorm.", "vision_tower.post_layernorm."),
        ("model.multi_modal_projector.linear.", "multi_modal_projector."),
        ("model.language_model.", "language_model."),
    ];

    /// <summary>Names of the output projection, tied to <c>embed_tokens</c> (checked for shape, not loaded).</summary>
    public static readonly string[] TiedOutputNames = ["language_model.lm_head.weight", "lm_head.weight"];

    /// <summary>Buffers some exports include that carry no learned values.</summary>
    private static readonly string[] IgnoredSuffixes = [".position_ids"];

    /// <summary>The Hub's (transformers &lt; 4.52) name for a backbone parameter, for writing Hugging Face folders.</summary>
    public static string ToHubName(string parameter)
    {
        foreach (var (from, to) in Prefixes.Take(5).Reverse())
            if (parameter.StartsWith(to, StringComparison.Ordinal)) return from + parameter[to.Length..];
        return parameter;
    }

    /// <summary>The name transformers ≥ 4.52 gives a backbone parameter (<c>model.language_model.…</c>), as LeRobot's saves carry it.</summary>
    public static string ToCurrentName(string parameter)
    {
        foreach (var (from, to) in Prefixes.Skip(5).Reverse())
            if (parameter.StartsWith(to, StringComparison.Ordinal)) return from + parameter[to.Length..];
        return parameter;
    }

    /// <summary>The backbone parameter name for <paramref name="name"/>, or null for a tensor that is deliberately not loaded.</summary>
    public static string? ToParameterName(string name)
    {
        if (TiedOutputNames.Contains(name) || IgnoredSuffixes.Any(name.EndsWith)) return null;
        foreach (var (from, to) in Prefixes)
            if (name.StartsWith(from, StringComparison.Ordinal)) return to + name[from.Length..];
        return name;
    }
}
