namespace Vla.Data;

/// <summary>How raw values map to the model's space.</summary>
public enum NormalizationMode
{
    /// <summary>[min, max] → [-1, 1] (the default, as the seed).</summary>
    MinMax,
    /// <summary>(x − mean) / std.</summary>
    ZScore,
    /// <summary>[q01, q99] → [-1, 1] (values beyond stay beyond; robust to outliers, as openpi).</summary>
    Quantile,
}
