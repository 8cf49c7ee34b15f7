using TorchSharp;
using Vla.Config;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Weights;
using static TorchSharp.torch;

namespace Vla.Tests.Model.Pi0;

/// <summary>
/// pi0 and pi0.5 as trainable policies: the loss against the plain-PyTorch reference, averaged over the robot's actions
/// only; gradient checkpointing changing nothing but memory; LoRA on PaliGemma and on the expert; and a few steps fitting a batch.
/// </summary>
[Collection(ProcessWide.Name)]
public sealed class Pi0TrainingTests : IDisposable
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");
    private readonly SafetensorsFile _reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose() => _scope.Dispose();

    private Tensor Ref(string name) => _reference.Read(name);

    private static Pi0Policy Policy(string family, int dims)
    {
        var model = new Pi0Model(Pi0GoldenTests.Tiny, family == "pi0" ? c => new Pi0Suffix(c) : c => new Pi05Suffix(c));
        Pi0Weights.Load(model, Path.Combine(Golden, $"{family}-tiny"));
        return new Pi0Policy(model, PolicyTransform.None, cameras: 2, stateDim: dims, actionDim: dims);
    }

    private PolicyInput Input(int stateDim) =>
        new(Ref("images"), Ref("tokens").to_type(ScalarType.Int64), Ref("token_masks").to_type(ScalarType.Bool), Ref("state").narrow(1, 0, stateDim))
        {
            ImageMask = Ref("image_masks").to_type(ScalarType.Bool),
        };

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void The_loss_is_the_references_averaged_over_the_robots_action_values(string family)
    {
        using var full = Policy(family, 8);
        using var noGrad = no_grad();
        var loss = full.ComputeLoss(Input(8), Ref("actions"), Ref("noise"), Ref("time"));
        Tolerance.Close(Ref($"{family}.loss").mean([-1]), loss, what: "loss (B, H)");

        // A robot with 6 action values: its targets are padded with zeros, and the padded values do not count.
        using var robot = Policy(family, 6);
        var actions = Ref("actions").narrow(2, 0, 6);
        var ours = robot.ComputeLoss(Input(6), actions, Ref("noise"), Ref("time"));
        using var prefix = robot.Model.EmbedPrefix(Ref("images"), Ref("image_masks").to_type(ScalarType.Bool), Ref("tokens").to_type(ScalarType.Int64), Ref("token_masks").to_type(ScalarType.Bool));
        var padded = nn.functional.pad(actions, [0, 2]);
        var state = nn.functional.pad(Ref("state").narrow(1, 0, 6), [0, 2]);
        var expected = robot.Model.Losses(prefix, state, padded, Ref("noise"), Ref("time")).narrow(2, 0, 6).mean([-1]);
        Tolerance.Close(expected, ours, relative: 1e-6, what: "loss over 6 of 8 action values");
        Assert.Throws<ArgumentException>(() => robot.ComputeLoss(Input(6), actions, Ref("noise").narrow(2, 0, 6), Ref("time")));
    }

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void Gradient_checkpointing_gives_the_same_loss_and_gradients(string family)
    {
        (float Loss, Dictionary<string, Tensor> Grads) Step(bool checkpointing, out long recomputed)
        {
            using var policy = Policy(family, 8);
            policy.GradientCheckpointing = checkpointing;
            policy.Model.train();
            var masks = new DropoutMasks.Source(() => 1, 2, 0, 2);
            float value;
            using (policy.EnterTrainingStep(masks))
            {
                var loss = policy.ComputeLoss(Input(8), Ref("actions"), Ref("noise"), Ref("time")).mean();
                loss.backward();
                value = loss.item<float>();
            }
            recomputed = policy.Recomputations;
            var grads = policy.Model.named_parameters().Where(p => p.parameter.grad is not null)
                .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone().DetachFromDisposeScope());
            return (value, grads);
        }
        var plain = Step(false, out long none);
        var recomputed = Step(true, out long count);
        Assert.Equal(0, none);
        Assert.Equal(2 + 2 * 2, count); // the two joint layers, and the vision tower's two for each of the two cameras
        Assert.Equal(plain.Loss, recomputed.Loss, 6);
        Assert.Equal(plain.Grads.Keys.Order(), recomputed.Grads.Keys.Order());
        foreach (var (name, grad) in plain.Grads)
            Tolerance.Close(grad, recomputed.Grads[name], relative: 1e-4, what: $"gradient of {name}");
        foreach (var t in plain.Grads.Values.Concat(recomputed.Grads.Values)) t.Dispose();
    }

    [Fact]
    public void LoRA_freezes_PaliGemma_and_the_expert_and_trains_their_adapters_and_the_projections()
    {
        using var policy = Policy("pi0", 8);
        using var noGrad = no_grad();
        var before = policy.SampleActions(Input(8), 3, noise: Ref("noise"));
        policy.AttachAdapters(new LoraConfig { Rank = 2, Alpha = 4 }, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["q_proj", "v_proj"] },
                              freezeVisionTower: false, freezeLanguageModel: false);
        var trained = policy.Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.All(trained, name => Assert.True(LoraAdapters.IsAdapter(name) || !name.StartsWith("paligemma_with_expert.", StringComparison.Ordinal), name));
        Assert.Equal(2 * 7 * 2, trained.Count(n => n.StartsWith("paligemma_with_expert.paligemma.", StringComparison.Ordinal)));   // 2 layers × 7 projections × A, B
        Assert.Equal(2 * 2 * 2, trained.Count(n => n.StartsWith("paligemma_with_expert.gemma_expert.", StringComparison.Ordinal))); // 2 layers × 2 projections × A, B
        Assert.Contains("action_in_proj.weight", trained);
        Assert.Contains("state_proj.weight", trained);
        Assert.Equal((LoraConfig.DefaultTargets.Count, 2), (policy.Adapters.Vlm.TargetModules.Count, policy.Adapters.Expert.TargetModules.Count));
        // B starts at zero: the adapted policy samples what the pretrained one did.
        Tolerance.Close(before, policy.SampleActions(Input(8), 3, noise: Ref("noise")), relative: 1e-6, what: "chunk after attaching adapters");
        var error = Assert.Throws<Vla.Runtime.BadInputException>(() => Policy("pi0", 8).AttachAdapters(new LoraConfig(), new LoraConfig { Rank = 2, TargetModules = ["qproj"] }, false, false));
        Assert.Contains("model.expert_lora.target_modules: 'qproj' names no projection of the action expert", error.Message);
    }

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void A_few_AdamW_steps_fit_one_batch(string family)
    {
        using var policy = Policy(family, 6);
        policy.AttachAdapters(new LoraConfig { Rank = 4, Alpha = 8 }, new LoraConfig(), freezeVisionTower: true, freezeLanguageModel: false);
        policy.Model.train();
        var parameters = policy.Model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = optim.AdamW(parameters, lr: 3e-3);
        var actions = Ref("actions").narrow(2, 0, 6);
        float Loss()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = policy.ComputeLoss(Input(6), actions, Ref("noise"), Ref("time")).mean();
            loss.backward();
            optimizer.step();
            return loss.item<float>();
        }
        float first = Loss();
        float last = first;
        for (int i = 0; i < 30; i++) last = Loss();
        Assert.True(last < 0.5f * first, $"loss {first} → {last} after 30 steps on one batch");
    }
}
