using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Vla.Model.Pi0;

/// <summary>
/// pi0 and pi0.5 (LeRobot's <c>PI0Pytorch</c> / <c>PI05Pytorch</c>): PaliGemma over the cameras and the prompt, the action
/// expert over the suffix of its family (<see cref="ExpertSuffix"/>), both attending jointly in every layer, and flow
/// matching from t = 1 (noise) to t = 0 (actions). Parameter names are LeRobot's without its <c>model.</c> prefix, but for
/// the backbone's own layout inside <c>paligemma_with_expert.paligemma</c> (<see cref="Pi0Weights"/> maps them).
/// </summary>
public sealed class Pi0Model : nn.Module
{
    /// <summary>The additive mask value of LeRobot and openpi (a −inf mask turns padded rows into NaN).</summary>
    public const float MaskValue = -2.3819763e38f;

    private readonly JointTransformer paligemma_with_expert;
    private readonly Linear action_in_proj;
    private readonly Linear action_out_proj;
    private readonly ExpertSuffix _suffix;

    /// <summary>
    /// Builds the model of shape <paramref name="config"/> for the family <paramref name="suffix"/> makes, its weights drawn,
    /// or, without <paramref name="initialize"/>, the large projections and the embedding left as allocated because they are
    /// about to be loaded (<see cref="Pi0Weights"/>).
    /// </summary>
    public Pi0Model(Pi0Config config, Func<Pi0Config, ExpertSuffix> suffix, bool initialize = true) : base(nameof(Pi0Model))
    {
        Config = config;
        _suffix = suffix(config);
        var backbone = new PaliGemmaBackbone(config.PaliGemma, initialize: initialize);
        var expert = new ActionExpert(config.Expert, () => _suffix.CreateNorm(config.Expert), initialize);
        paligemma_with_expert = new JointTransformer(backbone, expert);
        action_in_proj = nn.Linear(config.MaxActionDim, config.Expert.HiddenSize);
        action_out_proj = nn.Linear(config.Expert.HiddenSize, config.MaxActionDim);
        RegisterComponents();
        foreach (var (name, module) in _suffix.Modules) register_module(name, module);
    }

    /// <summary>The model's shape.</summary>
    public Pi0Config Config { get; }

    /// <summary>The family (<c>pi0</c> or <c>pi05</c>).</summary>
    public ExpertSuffix Family => _suffix;

    /// <summary>PaliGemma and the action expert, attending jointly.</summary>
    public JointTransformer PaliGemmaWithExpert => paligemma_with_expert;

    /// <summary>The dtype the language model's and the expert's projections are stored and compute in.</summary>
    public ScalarType Dtype => paligemma_with_expert.Dtype;

    /// <summary>
    /// Stores the language model's token table and the projections of both transformers in <paramref name="dtype"/> (bfloat16
    /// halves the weights); the vision tower, the projector, every norm and the action, state and time projections stay in
    /// float32, as LeRobot keeps the vision path and the norms (it also rounds the small action and time projections, which
    /// stay exact here). Call it before loading weights to read a bfloat16 file straight into bfloat16.
    /// </summary>
    public void StoreIn(ScalarType dtype)
    {
        var (text, expert) = (paligemma_with_expert.PaliGemma.LanguageModel, paligemma_with_expert.Expert);
        text.EmbedTokens.to(dtype);
        foreach (var (attention, mlp) in text.Layers.Select(l => (l.Attention, l.Mlp)).Concat(expert.Layers.Select(l => (l.Attention, l.Mlp))))
        {
            attention.to(dtype);
            mlp.to(dtype);
        }
    }

    /// <summary>
    /// The prefix: each camera's image tokens (B, cameras, 3, H, W in [-1, 1]; a camera whose <paramref name="imageMask"/>
    /// (B, cameras) is false is masked out), then the prompt's embeddings times √width. Returns the tokens (B, P, D), their
    /// padding mask (B, P) and their block flags (all 0: the prefix attends bidirectionally).
    /// </summary>
    public Pi0Prefix EmbedPrefix(Tensor images, Tensor imageMask, Tensor tokenIds, Tensor tokenMask)
    {
        using var scope = NewDisposeScope();
        var backbone = paligemma_with_expert.PaliGemma;
        long b = images.shape[0], cameras = images.shape[1];
        var tokens = new List<Tensor>();
        var pads = new List<Tensor>();
        for (long c = 0; c < cameras; c++)
        {
            var features = backbone.EmbedImages(images.select(1, c));                                  // (B, N, D), not scaled
            tokens.Add(features);
            pads.Add(imageMask.select(1, c).to_type(ScalarType.Bool).unsqueeze(1).expand(b, features.shape[1]));
        }
        var text = backbone.LanguageModel.Embed(tokenIds);
        for (int c = 0; c < tokens.Count; c++) tokens[c] = tokens[c].to_type(text.dtype);                 // the float32 vision path, rounded to the model's dtype
        tokens.Add(text * tensor(Math.Sqrt(backbone.Config.Text.HiddenSize), text.dtype, text.device));
        pads.Add(tokenMask.to_type(ScalarType.Bool));
        var all = cat(tokens, 1);
        return new Pi0Prefix(all.MoveToOuterDisposeScope(), cat(pads, 1).MoveToOuterDisposeScope(), new long[all.shape[1]]);
    }

    /// <summary>
    /// The velocity the model predicts (B, H, max_action_dim) at <paramref name="noisyActions"/> and flow times
    /// <paramref name="time"/> (B), over the whole prefix and suffix at once (the training forward); <paramref name="layerOutputs"/>
    /// as <see cref="JointTransformer.forward"/> fills it.
    /// </summary>
    public Tensor Velocity(Pi0Prefix prefix, Tensor state, Tensor noisyActions, Tensor time, List<(Tensor? Prefix, Tensor? Suffix)>? layerOutputs = null)
    {
        using var scope = NewDisposeScope();
        var suffix = EmbedSuffix(state, noisyActions, time);
        var pad = cat([prefix.PadMask, suffix.PadMask], 1);
        var mask = AdditiveMask(Allowed(pad, [.. prefix.Blocks, .. suffix.Blocks]));
        var positions = Positions(pad);
        var (_, output) = paligemma_with_expert.forward(prefix.Tokens, suffix.Tokens, positions, mask, suffix.Condition, null, layerOutputs,
                                                        prefixOutput: layerOutputs is not null); // the actions read only the suffix
        return ActionsOut(output!).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The flow-matching loss per chunk step and action value (B, H, max_action_dim), unreduced, for the padded target
    /// <paramref name="actions"/> with <paramref name="noise"/> and flow times <paramref name="time"/> (B).
    /// </summary>
    public Tensor Losses(Pi0Prefix prefix, Tensor state, Tensor actions, Tensor noise, Tensor time)
    {
        using var scope = NewDisposeScope();
        var t = time.view(-1, 1, 1);
        var noisy = t * noise + (1 - t) * actions;
        var velocity = Velocity(prefix, state, noisy, time);
        return (noise - actions - velocity).square().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Integrates a chunk (B, H, max_action_dim) from <paramref name="noise"/> at t = 1 to t = 0 in <paramref name="steps"/>
    /// Euler steps, guided by <paramref name="guidance"/> when given. The prefix runs once into a cache of its keys and values;
    /// each step runs only the suffix against it.
    /// </summary>
    public Tensor SampleActions(Pi0Prefix prefix, Tensor state, Tensor noise, int steps, ChunkGuidance? guidance = null)
    {
        using var scope = NewDisposeScope();
        using var cache = new KvCache(Config.PaliGemma.Text.NumHiddenLayers);
        using (no_grad())
        {
            var prefixMask = AdditiveMask(Allowed(prefix.PadMask, prefix.Blocks));
            var prefixPositions = Positions(prefix.PadMask);
            paligemma_with_expert.forward(prefix.Tokens, null, prefixPositions, prefixMask, null, cache).Prefix?.Dispose(); // only its cache is used
        }
        var offsets = prefix.PadMask.to_type(ScalarType.Int64).sum(1, keepdim: true);                  // valid prefix tokens
        Tensor Denoise(Tensor x, Tensor time)
        {
            var suffix = EmbedSuffix(state, x, time);
            long b = x.shape[0], s = suffix.Tokens.shape[1];
            // Suffix queries see every valid prefix token, and the suffix by its own blocks.
            var toPrefix = prefix.PadMask.unsqueeze(1).expand(b, s, -1);
            var mask = AdditiveMask(cat([toPrefix, Allowed(suffix.PadMask, suffix.Blocks)], 2));
            var positions = offsets + Positions(suffix.PadMask);
            var (_, output) = paligemma_with_expert.forward(null, suffix.Tokens, positions, mask, suffix.Condition, cache);
            return ActionsOut(output!);
        }
        Func<Tensor, Tensor, double, Tensor> velocity = guidance is null
            ? (x, time, _) => { using (no_grad()) return Denoise(x, time); }
            : (x, time, t) => guidance.Velocity(y => Denoise(y, time), x, time, t);
        return EulerIntegrator.Integrate(velocity, noise.to_type(ScalarType.Float32), steps).MoveToOuterDisposeScope();
    }

    private Suffix EmbedSuffix(Tensor state, Tensor noisyActions, Tensor time)
    {
        var actionTokens = action_in_proj.forward(noisyActions.to_type(ScalarType.Float32));
        return _suffix.Embed(state, actionTokens, TimeEmbedding(time, Config.Expert.HiddenSize, Config.MinPeriod, Config.MaxPeriod));
    }

    private Tensor ActionsOut(Tensor suffixOutput) =>
        action_out_proj.forward(suffixOutput.narrow(1, suffixOutput.shape[1] - Config.ChunkSize, Config.ChunkSize).to_type(ScalarType.Float32));

    /// <summary>
    /// The sine-cosine embedding of flow times (B) → (B, <paramref name="dim"/>): sines then cosines over periods from
    /// <paramref name="minPeriod"/> to <paramref name="maxPeriod"/>, computed in float64 as LeRobot does, returned in float32.
    /// </summary>
    public static Tensor TimeEmbedding(Tensor time, int dim, double minPeriod, double maxPeriod)
    {
        using var scope = NewDisposeScope();
        var fraction = linspace(0.0, 1.0, dim / 2, ScalarType.Float64, time.device);
        var period = (fraction * Math.Log(maxPeriod / minPeriod)).exp() * minPeriod;
        var angles = time.to_type(ScalarType.Float64).unsqueeze(1) * (period.reciprocal() * (2 * Math.PI)).unsqueeze(0);
        return cat([angles.sin(), angles.cos()], 1).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Which key each query may attend to (B, T, T), by the cumulative-sum rule: query i sees key j when the blocks opened up
    /// to j are no more than those opened up to i, and both are valid in <paramref name="pad"/> (B, T).
    /// </summary>
    public static Tensor Allowed(Tensor pad, long[] blocks)
    {
        using var scope = NewDisposeScope();
        var cumulative = tensor(blocks, device: pad.device).cumsum(0);
        var byBlock = cumulative.unsqueeze(0) <= cumulative.unsqueeze(1);                              // (T, T): key ≤ query
        var valid = pad.unsqueeze(1).logical_and(pad.unsqueeze(2));                                    // (B, T, T)
        return valid.logical_and(byBlock.unsqueeze(0)).MoveToOuterDisposeScope();
    }

    /// <summary>Positions of tokens (B, T) from their padding mask: <c>cumsum(pad) − 1</c>, so padding repeats the last valid position.</summary>
    public static Tensor Positions(Tensor pad) => pad.to_type(ScalarType.Int64).cumsum(1) - 1;

    /// <summary>(B, T, S) booleans as the additive mask (B, 1, T, S): 0 where allowed, <see cref="MaskValue"/> elsewhere.</summary>
    public static Tensor AdditiveMask(Tensor allowed)
    {
        using var scope = NewDisposeScope();
        return full(allowed.shape, MaskValue, ScalarType.Float32, allowed.device).masked_fill(allowed, 0).unsqueeze(1).MoveToOuterDisposeScope();
    }
}

/// <summary>The embedded prefix of a batch: tokens (B, P, D), padding mask (B, P), block flags (P, all 0). Whoever made it disposes it.</summary>
public sealed record Pi0Prefix(Tensor Tokens, Tensor PadMask, long[] Blocks) : IDisposable
{
    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Tokens.Dispose();
        PadMask.Dispose();
    }
}
