using System.Text.Json.Nodes;
using TorchSharp;
using Vla.Checkpoints;
using Vla.Config;
using Vla.Model;
using Vla.Model.Pi0;
using Vla.Model.Weights;
using Vla.Tests.Model;
using static TorchSharp.torch;

namespace Vla.Tests.Checkpoints;

/// <summary>pi0 / pi0.5 written as LeRobot folders: read back in place they sample the same chunks, with the released key set and LoRA folded in.</summary>
[Collection(ProcessWide.Name)]
public sealed class LeRobotPolicyWriterTests : IDisposable
{
    private static string Golden => Path.Combine(TestFiles.RepoRoot, "tests", "golden");
    private static string SampleTokenizer => Path.Combine(TestFiles.RepoRoot, "data-samples", "tiny-paligemma");
    private readonly TempFolder _temp = new("vla-lerobot-");
    private readonly SafetensorsFile _reference = SafetensorsFile.Open(Path.Combine(Golden, "pi0_reference.safetensors"));
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose()
    {
        _scope.Dispose();
        _temp.Dispose();
    }

    private PolicyInput Input() =>
        new(_reference.Read("images"), _reference.Read("tokens").to_type(ScalarType.Int64), _reference.Read("token_masks").to_type(ScalarType.Bool),
            _reference.Read("state").narrow(1, 0, 6)) { ImageMask = _reference.Read("image_masks").to_type(ScalarType.Bool) };

    private static HashSet<string> Keys(string folder) =>
        SafetensorsFile.Open(Path.Combine(folder, "model.safetensors")).Entries.Select(e => e.Name.StartsWith("model.", StringComparison.Ordinal) ? e.Name[6..] : e.Name).ToHashSet();

    [Theory]
    [InlineData("pi0")]
    [InlineData("pi05")]
    public void A_written_folder_reads_back_to_the_same_policy_statistics_and_keys(string family)
    {
        string source = Path.Combine(Golden, $"{family}-tiny");
        var loaded = LeRobotPolicyFolder.Load(source, SampleTokenizer);
        using var policy = loaded.Policy;
        string written = Path.Combine(_temp.Root, family);
        LeRobotPolicyWriter.Save(policy, loaded.Stats, loaded.Mode, loaded.Cameras, written);

        Assert.Equal(Keys(source), Keys(written));                                      // the released key set, embedding as lm_head only
        Assert.All(SafetensorsFile.Open(Path.Combine(written, "model.safetensors")).Entries, e => Assert.StartsWith("model.", e.Name));
        var back = LeRobotPolicyFolder.Load(written);                                    // its own tokenizer/ this time
        using var again = back.Policy;
        Assert.Equal(LeRobotPolicyFolder.Describe(source) with { Cameras = [] }, LeRobotPolicyFolder.Describe(written) with { Cameras = [] });
        Assert.Equal(loaded.Stats.State.Mean, back.Stats.State.Mean);
        Assert.Equal(loaded.Stats.Action.Q99, back.Stats.Action.Q99);
        Assert.Equal(loaded.Cameras, back.Cameras);
        using var noGrad = no_grad();
        var expected = policy.SampleActions(Input(), 3, noise: _reference.Read("noise"));
        Assert.Equal(expected.data<float>().ToArray(), again.SampleActions(Input(), 3, noise: _reference.Read("noise")).data<float>().ToArray());
        string preprocessor = File.ReadAllText(Path.Combine(written, "policy_preprocessor.json"));
        Assert.Equal(JsonNode.Parse(File.ReadAllText(Path.Combine(source, "policy_preprocessor.json")))!["steps"]!.AsArray().Select(s => s!["registry_name"]!.GetValue<string>()),
                     JsonNode.Parse(preprocessor)!["steps"]!.AsArray().Select(s => s!["registry_name"]!.GetValue<string>()));
    }

    [Fact]
    public void Adapters_are_folded_into_the_weights_they_adapt()
    {
        string source = Path.Combine(Golden, "pi05-tiny");
        var loaded = LeRobotPolicyFolder.Load(source);
        using var policy = loaded.Policy;
        policy.AttachAdapters(new LoraConfig { Rank = 2, Alpha = 4 }, new LoraConfig { Rank = 2, Alpha = 2 }, freezeVisionTower: false, freezeLanguageModel: false);
        using (no_grad())
            foreach (var (name, p) in policy.Model.named_parameters().Where(p => p.name.Contains(".lora_B.", StringComparison.Ordinal)))
                p.normal_(0, 0.05);                                                     // trained adapters: B is no longer zero
        policy.Model.eval();
        string written = Path.Combine(_temp.Root, "merged");
        LeRobotPolicyWriter.Save(policy, loaded.Stats, loaded.Mode, loaded.Cameras, written);
        Assert.DoesNotContain(Keys(written), k => LoraAdapters.IsAdapter(k));
        Assert.Equal(Keys(source), Keys(written));
        using var merged = LeRobotPolicyFolder.Load(written).Policy;
        using var noGrad = no_grad();
        var adapted = policy.SampleActions(Input(), 3, noise: _reference.Read("noise"));
        var pretrained = LeRobotPolicyFolder.Load(source).Policy;
        Assert.False(adapted.allclose(pretrained.SampleActions(Input(), 3, noise: _reference.Read("noise")), rtol: 1e-3, atol: 1e-3), "the adapters changed nothing");
        pretrained.Dispose();
        Tolerance.Close(adapted, merged.SampleActions(Input(), 3, noise: _reference.Read("noise")), relative: 1e-4, what: "chunk with adapters folded in");
    }

    [Fact]
    public void A_checkpoint_keeps_adapters_in_PEFTs_layout_and_the_rest_by_name_and_reads_back_to_the_same_chunk()
    {
        string source = Path.Combine(Golden, "pi05-tiny");
        var (vlm, expert) = (new LoraConfig { Rank = 2, Alpha = 4 }, new LoraConfig { Rank = 4, Alpha = 4, TargetModules = ["q_proj", "v_proj"] });
        Pi0Policy Adapted()
        {
            var policy = LeRobotPolicyFolder.Load(source).Policy;
            policy.AttachAdapters(vlm, expert, freezeVisionTower: true, freezeLanguageModel: false);
            return policy;
        }
        using var trained = Adapted();
        using (no_grad())
            foreach (var (_, p) in trained.Model.named_parameters().Where(p => p.parameter.requires_grad))
                p.add_(randn_like(p) * 0.05);                                                  // as if trained: adapters and projections moved
        string folder = Path.Combine(_temp.Root, "checkpoint");
        Directory.CreateDirectory(folder);
        trained.Save(folder);
        var adapters = SafetensorsFile.Open(Path.Combine(folder, LoraAdapters.WeightsFile)).Entries.Select(e => e.Name).ToList();
        Assert.Contains("base_model.model.model.paligemma_with_expert.paligemma.model.language_model.layers.0.self_attn.q_proj.lora_A.weight", adapters);
        Assert.Contains("base_model.model.model.paligemma_with_expert.gemma_expert.model.layers.1.self_attn.v_proj.lora_B.weight", adapters);
        Assert.DoesNotContain(SafetensorsFile.Open(Path.Combine(folder, Pi0CheckpointFiles.Weights)).Entries, e => LoraAdapters.IsAdapter(e.Name));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, LoraAdapters.ConfigFile)))!;
        Assert.Equal((2, 4), (config["r"]!.GetValue<int>(), config["rank_pattern"]![".*gemma_expert.*"]!.GetValue<int>()));
        Assert.Equal(Path.GetFullPath(source), Pi0CheckpointFiles.Base(folder));

        using var back = Adapted();
        Pi0CheckpointFiles.Load(back, folder);
        trained.Model.eval();
        back.Model.eval();
        using var noGrad = no_grad();
        Assert.Equal(trained.SampleActions(Input(), 3, noise: _reference.Read("noise")).data<float>().ToArray(),
                     back.SampleActions(Input(), 3, noise: _reference.Read("noise")).data<float>().ToArray());
    }

    [Fact]
    public void The_sample_pi0_folder_is_what_make_sample_data_writes()
    {
        string written = Path.Combine(_temp.Root, "tiny-pi0");
        SamplePi0Folder.Write(written, seed: 7);
        string committed = Path.Combine(TestFiles.RepoRoot, "data-samples", "tiny-pi0");
        var files = Directory.EnumerateFiles(committed, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(committed, f)).Order().ToList();
        Assert.Equal(files, Directory.EnumerateFiles(written, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(written, f)).Order());
        foreach (var file in files)
            Assert.True(File.ReadAllBytes(Path.Combine(committed, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(written, file))), $"{file} differs");
        using var policy = LeRobotPolicyFolder.Load(committed).Policy;
        Assert.Equal((2, 7, 7, 64, 32), (policy.Spec.Cameras, policy.Spec.StateDim, policy.Spec.ActionDim, policy.Spec.ImageSize, policy.Spec.NoiseDim));
    }
}
