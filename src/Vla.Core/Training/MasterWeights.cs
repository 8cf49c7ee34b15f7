using TorchSharp.Modules;
using Vla.Model;
using Vla.Model.Weights;
using Vla.Runtime;
using static TorchSharp.torch;

namespace Vla.Training;

/// <summary>
/// Float32 master copies of the trained parameters stored in bfloat16 or float16: the optimizer updates the masters (so
/// its state is float32 too), and each update is copied back into the model, rounded to its dtype. Float32 parameters
/// are optimized as they are.
/// </summary>
public sealed class MasterWeights : IDisposable
{
    private readonly IReadOnlyList<(string Name, Parameter Param)> _trained;
    private readonly Dictionary<string, Parameter> _masters = new();

    /// <summary>Makes a master for each half-precision parameter of <paramref name="trained"/> (name, parameter; model order).</summary>
    public MasterWeights(IReadOnlyList<(string Name, Parameter Param)> trained)
    {
        _trained = trained;
        var optimized = new List<Parameter>(trained.Count);
        foreach (var (name, p) in trained)
        {
            if (!ModelDtype.IsHalf(p.dtype)) { optimized.Add(p); continue; }
            var master = new Parameter(p.detach().to_type(ScalarType.Float32), requires_grad: true);
            _masters[name] = master;
            optimized.Add(master);
        }
        Optimized = optimized;
    }

    /// <summary>What the optimizer updates, in model order: masters in place of half-precision parameters.</summary>
    public IReadOnlyList<Parameter> Optimized { get; }

    /// <summary>The masters, by parameter name.</summary>
    public IReadOnlyDictionary<string, Parameter> ByName => _masters;

    /// <summary>Unscales the gradients by <paramref name="lossScale"/> and hands each half-precision parameter's gradient to its master.</summary>
    public void TakeGradients(double lossScale)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in _trained)
        {
            if (p.grad is null) continue;
            if (_masters.TryGetValue(name, out var master))
            {
                master.grad ??= zeros_like(master).DetachFromDisposeScope();
                master.grad.copy_(p.grad);
                if (lossScale != 1) master.grad.div_(lossScale);
            }
            else if (lossScale != 1) p.grad.div_(lossScale);
        }
    }

    /// <summary>Copies every master into its model parameter (rounding to the parameter's dtype).</summary>
    public void CopyToModel()
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in _trained)
            if (_masters.TryGetValue(name, out var master)) p.copy_(master);
    }

    /// <summary>Writes the masters into <paramref name="file"/> with <paramref name="metadata"/> (nothing without masters).</summary>
    public void Save(string file, Dictionary<string, string> metadata)
    {
        if (_masters.Count == 0) return;
        SafetensorsFile.Write(file, _masters.Select(m => (m.Key, (Tensor)m.Value)), metadata);
    }

    /// <summary>Reads what <see cref="Save"/> wrote back into the masters and the model; returns the file's metadata.</summary>
    public IReadOnlyDictionary<string, string> Load(string file)
    {
        if (_masters.Count == 0) return new Dictionary<string, string>();
        if (!File.Exists(file))
            throw new BadInputException($"{file} is missing: a {ModelDtype.Name(_trained.First(t => _masters.ContainsKey(t.Name)).Param.dtype)} run cannot resume exactly without its float32 master weights.");
        var saved = SafetensorsFile.Open(file);
        var entries = saved.Entries.ToDictionary(e => e.Name);
        var absent = _masters.Keys.Where(k => !entries.ContainsKey(k)).ToList();
        if (absent.Count > 0) throw new BadInputException($"{file} lacks the master weights of {string.Join(", ", absent.Take(5))}{(absent.Count > 5 ? ", …" : "")}.");
        using (no_grad())
            foreach (var (name, master) in _masters) saved.CopyInto(entries[name], master);
        CopyToModel();
        return saved.Metadata;
    }

    /// <summary>Frees the masters.</summary>
    public void Dispose()
    {
        foreach (var master in _masters.Values) master.Dispose();
    }
}
