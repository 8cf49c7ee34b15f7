using Vla.Config;
using Vla.Model;
using Vla.Model.Weights;

namespace Vla.Tests.Training;

/// <summary>A tiny, fast training setup: fixture episodes, a tiny PaliGemma folder with the sample tokenizer, a config over them.</summary>
internal sealed class TrainingFixture : IDisposable
{
    public TestFiles Files { get; } = new();

    public string ModelDir => Files.PathOf("model");

    public TrainingFixture()
    {
        Files.Write("train/a.parquet", Enumerable.Range(0, 4).Select(i => TestFiles.Episode(5 + i, i % 2 == 0 ? "pick up the red cube" : "pick up the blue cube", offset: 3 * i)));
        Files.Write("val/a.parquet", [TestFiles.Episode(6, "pick up the red cube", offset: 1)]);
        using var backbone = new PaliGemmaBackbone(PaliGemmaConfig.Tiny(vocabSize: 304, imageTokenIndex: 300) with
        {
            Vision = PaliGemmaConfig.Tiny().Vision with { ImageSize = 32, PatchSize = 8 },
        });
        backbone.InitializeWeights(5);
        ModelWeights.SaveBackbone(backbone, ModelDir);
        File.Copy(Path.Combine(TestFiles.RepoRoot, "data-samples", "tiny-paligemma", "tokenizer.model"), Path.Combine(ModelDir, "tokenizer.model"));
    }

    public VlaConfig Config(int epochs = 2, string experiment = "run", double dropout = 0.0) => ConfigLoader.Parse($"""
        data:
          train_parquet_files: {Files.PathOf("train")}
          val_parquet_files: {Files.PathOf("val")}
          max_seq_len: 1
          prompt_max_len: 12
          batch_size: 4
          num_workers: 1
          normalization_stats_path: ""
          state_dim: 3
          image_size: 32
        model:
          vlm_config:
            model_name_or_path: {ModelDir}
            use_aux_camera: true
            num_image_tokens: 16
          vision_resampler_config:
            output_dim: 32
          action_head_config:
            horizon: 3
            per_action_dim: 2
            action_dim: 6
            mlp_hidden_dims: [32]
            dropout_prob: {dropout.ToString(System.Globalization.CultureInfo.InvariantCulture)}
            hidden_dim: 32
            num_layers: 1
            num_heads: 4
            num_inference_steps: 4
        training:
          epochs: {epochs}
          log_interval: 2
          checkpoint_dir: {Files.PathOf("experiments")}
          experiment_name: {experiment}
          save_every_n_epochs: 1
          seed: 11
        optimizer:
          lr: 1.0e-3
        lr_scheduler:
          T_max: 4
          warmup_steps: 2
        """);

    /// <summary>Two observations in the fixture config's layout (2 cameras of 32 px, state_dim 3), images then state drawn from <paramref name="generator"/>.</summary>
    public static Vla.Model.PolicyInput Input(Vla.Model.Tokenization.PaliGemmaTokenizer tokenizer, TorchSharp.torch.Generator generator)
    {
        var tokens = tokenizer.EncodeBatch(["pick up the red cube", "pick up the blue cube"], 12);
        return new Vla.Model.PolicyInput(TorchSharp.torch.rand([2, 2, 3, 32, 32], generator: generator) * 2 - 1,
            TorchSharp.torch.tensor(tokens.Ids, [2, tokens.Length]), TorchSharp.torch.tensor(tokens.Mask, [2, tokens.Length]),
            TorchSharp.torch.randn([2, 3], generator: generator));
    }

    public void Dispose() => Files.Dispose();
}
