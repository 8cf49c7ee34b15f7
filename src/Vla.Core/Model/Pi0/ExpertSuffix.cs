using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// What sets pi0 and pi0.5 apart, as one object per family: the suffix tokens the expert reads (with their padding mask
/// and block flags for the cumulative-sum mask), the condition its norms take, the norms themselves, the modules that
/// make them (registered on the model under LeRobot's names) and the names older files give those modules.
/// </summary>
public abstract class ExpertSuffix
{
    /// <summary>The family (<c>config.json</c>'s <c>type</c>).</summary>
    public abstract string Family { get; }

    /// <summary>The modules this family adds to the model, by their parameter-name prefix.</summary>
    public abstract IEnumerable<(string Name, nn.Module Module)> Modules { get; }

    /// <summary>Makes one norm of the action expert.</summary>
    public abstract ExpertNorm CreateNorm(GemmaConfig expert);

    /// <summary>
    /// The suffix of one denoising step from the normalized padded <paramref name="state"/> (B, max_state_dim), the projected
    /// noisy actions (B, H, W) and the sine-cosine embedding of the flow time (B, W).
    /// </summary>
    public abstract Suffix Embed(Tensor state, Tensor actionTokens, Tensor timeEmbedding);

    /// <summary>A parameter name of this family for a name older files use, or the name itself.</summary>
    public virtual string Rename(string name) => name;

    /// <summary>Whether <paramref name="name"/> is a tensor of the other family that this one leaves out, as LeRobot does (pi0.5 and pi0's <c>state_proj</c>).</summary>
    public virtual bool IsForeign(string name) => false;
}

/// <summary>The suffix: tokens (B, S, W), their padding mask (B, S) and block flags (S) (1 opens a block), and the norms' condition.</summary>
public sealed record Suffix(Tensor Tokens, Tensor PadMask, long[] Blocks, Tensor? Condition);

/// <summary>
/// pi0: a state token (its own block), then the action tokens, each the action projection and the time embedding joined
/// and mixed by <c>action_time_mlp_in</c> → swish → <c>action_time_mlp_out</c>; plain RMSNorm in the expert.
/// </summary>
public sealed class Pi0Suffix : ExpertSuffix
{
    private readonly Linear state_proj, action_time_mlp_in, action_time_mlp_out;

    /// <summary>The modules for <paramref name="config"/>.</summary>
    public Pi0Suffix(Pi0Config config)
    {
        int w = config.Expert.HiddenSize;
        state_proj = nn.Linear(config.MaxStateDim, w);
        action_time_mlp_in = nn.Linear(2 * w, w);
        action_time_mlp_out = nn.Linear(w, w);
    }

    /// <inheritdoc/>
    public override string Family => "pi0";

    /// <inheritdoc/>
    public override IEnumerable<(string Name, nn.Module Module)> Modules =>
        [(nameof(state_proj), state_proj), (nameof(action_time_mlp_in), action_time_mlp_in), (nameof(action_time_mlp_out), action_time_mlp_out)];

    /// <inheritdoc/>
    public override ExpertNorm CreateNorm(GemmaConfig expert) => new ExpertRmsNorm(expert.HiddenSize, expert.RmsNormEps);

    /// <inheritdoc/>
    public override Suffix Embed(Tensor state, Tensor actionTokens, Tensor timeEmbedding)
    {
        using var scope = NewDisposeScope();
        long b = actionTokens.shape[0], h = actionTokens.shape[1];
        var stateToken = state_proj.forward(state.to_type(ScalarType.Float32)).unsqueeze(1);           // (B, 1, W)
        var joined = cat([actionTokens, timeEmbedding.unsqueeze(1).expand_as(actionTokens)], 2);      // (B, H, 2W): action, then time
        var mixed = action_time_mlp_out.forward(nn.functional.silu(action_time_mlp_in.forward(joined)));
        var tokens = cat([stateToken, mixed], 1);
        long[] blocks = [1, 1, .. Enumerable.Repeat(0L, (int)h - 1)];
        return new Suffix(tokens.MoveToOuterDisposeScope(), ones(b, h + 1, ScalarType.Bool, actionTokens.device).MoveToOuterDisposeScope(), blocks, null);
    }

    /// <inheritdoc/>
    public override string Rename(string name) => name.StartsWith("time_mlp_", StringComparison.Ordinal) ? "action_" + name : name;
}

/// <summary>
/// pi0.5: the action tokens alone (the state is in the prompt), the time embedding through <c>time_mlp_in</c> → swish →
/// <c>time_mlp_out</c> → swish as the condition of every adaptive norm in the expert.
/// </summary>
public sealed class Pi05Suffix : ExpertSuffix
{
    private readonly Linear time_mlp_in, time_mlp_out;

    /// <summary>The modules for <paramref name="config"/>.</summary>
    public Pi05Suffix(Pi0Config config)
    {
        int w = config.Expert.HiddenSize;
        time_mlp_in = nn.Linear(w, w);
        time_mlp_out = nn.Linear(w, w);
    }

    /// <inheritdoc/>
    public override string Family => "pi05";

    /// <inheritdoc/>
    public override IEnumerable<(string Name, nn.Module Module)> Modules => [(nameof(time_mlp_in), time_mlp_in), (nameof(time_mlp_out), time_mlp_out)];

    /// <inheritdoc/>
    public override ExpertNorm CreateNorm(GemmaConfig expert) => new AdaRmsNorm(expert.HiddenSize, expert.HiddenSize, expert.RmsNormEps);

    /// <inheritdoc/>
    public override Suffix Embed(Tensor state, Tensor actionTokens, Tensor timeEmbedding)
    {
        using var scope = NewDisposeScope();
        long b = actionTokens.shape[0], h = actionTokens.shape[1];
        var condition = nn.functional.silu(time_mlp_out.forward(nn.functional.silu(time_mlp_in.forward(timeEmbedding))));
        long[] blocks = [1, .. Enumerable.Repeat(0L, (int)h - 1)];
        return new Suffix(actionTokens.alias().MoveToOuterDisposeScope(), ones(b, h, ScalarType.Bool, actionTokens.device).MoveToOuterDisposeScope(), blocks,
                          condition.MoveToOuterDisposeScope());
    }

    /// <inheritdoc/>
    public override string Rename(string name) => name.StartsWith("action_time_mlp_", StringComparison.Ordinal) ? name["action_".Length..] : name;

    /// <inheritdoc/>
    public override bool IsForeign(string name) => name.StartsWith("state_proj.", StringComparison.Ordinal);
}
