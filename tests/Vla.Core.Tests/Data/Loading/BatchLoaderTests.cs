using TorchSharp;
using Vla.Data;
using Vla.Data.Loading;
using Vla.Runtime;

namespace Vla.Tests.Data.Loading;

public sealed class BatchLoaderTests : IDisposable
{
    private readonly TestFiles _files = new();
    private readonly EpisodeDataset _dataset;
    private readonly Normalizer _normalizer;
    private static readonly BatchLayout Layout = new(Cameras: 2, ImageSize: 4, StateDim: 3, Horizon: 3, PerActionDim: 2);

    public BatchLoaderTests()
    {
        _files.Write("a.parquet", [TestFiles.Episode(3), TestFiles.Episode(5, "other", offset: 50)]);
        _dataset = EpisodeDataset.OpenAsync([_files.Root], new DataOptions { StateDim = 3, PerActionDim = 2 }).GetAwaiter().GetResult();
        _normalizer = new Normalizer(NormalizationStats.Compute(_dataset), NormalizationMode.MinMax);
    }

    public void Dispose() => _files.Dispose();

    private BatchLoader Loader(LoaderOptions? options = null) => new(_dataset, _normalizer, Layout, options ?? new LoaderOptions { BatchSize = 3 });

    [Fact]
    public void There_is_one_window_per_step()
    {
        Assert.Equal(8, Loader().Windows.Count);
        Assert.Equal(new Window(1, 4), Loader().Windows[^1]);
    }

    [Fact]
    public void Chunk_steps_past_the_episode_end_are_zero_and_masked()
    {
        var b = Loader().Build([new Window(0, 1)]); // episode of 3: chunk covers steps 1, 2, (3 = past the end)
        Assert.Equal([true, true, false], b.ActionMask);
        Assert.Equal([0f, 0f], b.Actions[4..6]);
        float[] expected = [101f, 111f, 102f, 112f];
        _normalizer.NormalizeActions(expected);
        Assert.Equal(expected, b.Actions[..4]);
    }

    [Fact]
    public void Only_the_current_frame_of_each_camera_is_decoded()
    {
        var b = Loader().Build([new Window(1, 0), new Window(1, 2)]);
        int image = Layout.ImageFloats, perWindow = Layout.Cameras * image;
        Assert.Equal(2 * perWindow, b.Images.Length); // no history frames, whatever data.max_seq_len says
        // Window (1, 2) is step 2: camera 1's red channel is 10·t / 127.5 − 1.
        Assert.Equal(-1f, b.Images[0], 1e-5f);
        Assert.Equal(20f / 127.5f - 1f, b.Images[perWindow], 1e-5f);
        // Camera 2 is green: its red channel is -1, its green channel carries the step.
        Assert.Equal(-1f, b.Images[perWindow + image], 1e-5f);
        Assert.Equal(20f / 127.5f - 1f, b.Images[perWindow + image + 16], 1e-5f);
    }

    [Fact]
    public void Prompts_are_tokenized_on_the_loader_threads_by_the_policy_transform()
    {
        var options = new LoaderOptions { BatchSize = 2, Shuffle = false, NumWorkers = 2, Transform = new LengthTransform() };
        using var scope = torch.NewDisposeScope();
        using var batch = Loader(options).Epoch(0).First();
        Assert.Equal([2L, 2], batch.Input.TokenIds.shape);
        Assert.Equal(torch.ScalarType.Int64, batch.Input.TokenIds.dtype);
        Assert.Equal(torch.ScalarType.Bool, batch.Input.TokenMask.dtype);
        Assert.Equal([2L, batch.Prompts[0].Length, 2L, batch.Prompts[1].Length], batch.Input.TokenIds.data<long>().ToArray());
    }

    [Fact]
    public void The_transform_sees_each_windows_normalized_state_with_its_prompt()
    {
        // pi0.5 writes the discretized state into the prompt: the transform gets the normalized states beside the prompts.
        var transform = new LengthTransform();
        using var scope = torch.NewDisposeScope();
        using var batch = Loader(new LoaderOptions { BatchSize = 2, Shuffle = false, NumWorkers = 0, Transform = transform }).Epoch(0).First();
        Assert.Equal(batch.Input.State.data<float>().ToArray(), transform.States);
    }

    /// <summary>A policy transform whose "tokens" are BOS (2) and the prompt's length, remembering the states it was given.</summary>
    private sealed class LengthTransform : Vla.Model.PolicyTransform
    {
        public float[] States { get; private set; } = [];
        public override int PromptMaxLength => 2;
        public override int TokenCount(string prompt) => 2;
        public override Vla.Model.Tokenization.TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates)
        {
            States = normalizedStates.ToArray();
            return new([.. prompts.SelectMany(p => new long[] { 2, p.Length })], [.. prompts.SelectMany(_ => new[] { true, true })], prompts.Count, 2, 0);
        }
    }

    [Fact]
    public void State_is_the_normalized_state_of_the_current_step()
    {
        var b = Loader().Build([new Window(1, 4)]);
        float[] expected = [54f, 64f, 74f];
        _normalizer.NormalizeState(expected);
        Assert.Equal(expected, b.State);
        Assert.Equal("other", b.Prompts[0]);
    }

    [Fact]
    public void The_epoch_order_depends_only_on_seed_and_epoch()
    {
        var a = Loader(new LoaderOptions { BatchSize = 3, Seed = 5 });
        var b = Loader(new LoaderOptions { BatchSize = 3, Seed = 5 });
        Assert.Equal(a.EpochOrder(2), b.EpochOrder(2));
        Assert.NotEqual(a.EpochOrder(2), a.EpochOrder(3));
        Assert.Equal(a.Windows.ToHashSet(), a.EpochOrder(2).ToHashSet());
    }

    [Fact]
    public void Worker_threads_deliver_exactly_what_the_consumer_thread_builds()
    {
        var serial = Loader(new LoaderOptions { BatchSize = 3, NumWorkers = 0, Seed = 1 }).EpochBuffers(0).ToList();
        var parallel = Loader(new LoaderOptions { BatchSize = 3, NumWorkers = 3, Prefetch = 1, Seed = 1 }).EpochBuffers(0).ToList();
        Assert.Equal(3, serial.Count);
        Assert.Equal(serial.Select(b => b.Windows), parallel.Select(b => b.Windows));
        Assert.Equal(serial.Select(b => b.Images), parallel.Select(b => b.Images));
        Assert.Equal(serial.Select(b => b.Actions), parallel.Select(b => b.Actions));
    }

    [Fact]
    public void A_consumer_that_stops_early_ends_the_epoch_and_the_next_epoch_delivers_everything()
    {
        // training.max_steps stops inside an epoch with batches still built ahead; the loader must end the epoch, not wait for them.
        var loader = Loader(new LoaderOptions { BatchSize = 2, NumWorkers = 2, Prefetch = 4, Shuffle = false });
        foreach (var batch in loader.Epoch(0).Take(2)) batch.Dispose();
        var all = loader.EpochBuffers(1).SelectMany(b => b.Windows).ToList();
        Assert.Equal(loader.Windows.Count, all.Count);
    }

    [Fact]
    public void A_batch_that_fails_to_build_fails_in_its_place_after_the_batches_before_it()
    {
        int windows = Loader().Windows.Count;
        var loader = Loader(new LoaderOptions { BatchSize = windows - 1, NumWorkers = 2, Shuffle = false, Transform = new FailingOnSingles() });
        using var batches = loader.EpochBuffers(0).GetEnumerator();
        Assert.True(batches.MoveNext());                                        // the full batch, built beside the failing one
        Assert.Equal(windows - 1, batches.Current.Size);
        var e = Assert.Throws<BadInputException>(() => batches.MoveNext());    // then the last batch's own error
        Assert.Equal("a batch of one", e.Message);
    }

    /// <summary>A transform that refuses a batch of one prompt.</summary>
    private sealed class FailingOnSingles : Vla.Model.PolicyTransform
    {
        public override int PromptMaxLength => 0;
        public override int TokenCount(string prompt) => 0;
        public override Vla.Model.Tokenization.TokenBatch EncodePrompts(IReadOnlyList<string> prompts, ReadOnlySpan<float> normalizedStates) =>
            prompts.Count == 1 ? throw new BadInputException("a batch of one") : new([], [], prompts.Count, 0, 0);
    }

    [Fact]
    public void Ranks_read_disjoint_equal_shards_of_each_global_batch()
    {
        var rank0 = Loader(new LoaderOptions { BatchSize = 2, Rank = 0, WorldSize = 2, Seed = 3 }).EpochBatches(1);
        var rank1 = Loader(new LoaderOptions { BatchSize = 2, Rank = 1, WorldSize = 2, Seed = 3 }).EpochBatches(1);
        Assert.Equal(2, rank0.Count); // 8 windows = 2 global batches of 4
        Assert.Equal(rank0.Count, rank1.Count);
        var all = rank0.Concat(rank1).SelectMany(b => b).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(8, all.Count);
    }

    [Fact]
    public void A_smaller_last_global_batch_is_shared_so_ranks_see_what_one_process_sees()
    {
        var single = Loader(new LoaderOptions { BatchSize = 6, Seed = 3 }).EpochBatches(1);               // 6 + 2 windows
        var rank0 = Loader(new LoaderOptions { BatchSize = 3, Rank = 0, WorldSize = 2, Seed = 3 }).EpochBatches(1);
        var rank1 = Loader(new LoaderOptions { BatchSize = 3, Rank = 1, WorldSize = 2, Seed = 3 }).EpochBatches(1);
        Assert.Equal([3, 1], rank0.Select(b => b.Length));
        Assert.Equal([3, 1], rank1.Select(b => b.Length));
        for (int i = 0; i < single.Count; i++) Assert.Equal(single[i], rank0[i].Concat(rank1[i]));
        Assert.Equal((3, 2), EpochSampler.Slice(5, 1, 2));   // 5 windows: rank 0 takes 3, rank 1 the last 2
        var three = Loader(new LoaderOptions { BatchSize = 3, Rank = 0, WorldSize = 3, Seed = 3 }).EpochBatches(1);
        Assert.Equal([3], three.Select(b => b.Length));      // 8 windows over 3 ranks: one global batch split 3 / 3 / 2
    }

    [Fact]
    public void Tensors_have_the_documented_shapes()
    {
        using var scope = torch.NewDisposeScope();
        using var batch = Loader().Epoch(0).First();
        Assert.Equal([3L, 2, 3, 4, 4], batch.Input.Images.shape);
        Assert.Equal([3L, 0], batch.Input.TokenIds.shape); // no policy transform given
        Assert.Equal([3L, 3], batch.Input.State.shape);
        Assert.Equal([3L, 3, 2], batch.Actions.shape);
        Assert.Equal([3L, 3], batch.ActionMask.shape);
        Assert.Equal(torch.ScalarType.Bool, batch.ActionMask.dtype);
    }

    [Fact]
    public void No_tensor_outlives_its_batch_across_epochs()
    {
        var loader = Loader(new LoaderOptions { BatchSize = 2, NumWorkers = 2 });
        long Live() => DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long before = Live();
        for (int epoch = 0; epoch < 3; epoch++)
            foreach (var batch in loader.Epoch(epoch)) batch.Dispose();
        Assert.Equal(before, Live());
    }

    [Fact]
    public void Image_arrays_are_reused_and_their_pool_stays_bounded_over_epochs_with_a_smaller_last_batch()
    {
        var loader = Loader(new LoaderOptions { BatchSize = 3, NumWorkers = 2, Prefetch = 2 }); // 8 windows: batches of 3, 3, 2
        for (int epoch = 0; epoch < 20; epoch++)
            foreach (var batch in loader.Epoch(epoch)) batch.Dispose();
        Assert.InRange(loader.SpareImageArrays, 1, 2 + 1 + 2); // what can be in flight: the batches ahead, the consumer's, the workers'
    }

    [Fact]
    public void A_loader_refuses_data_that_disagrees_with_the_layout()
    {
        var e = Assert.Throws<Vla.Runtime.BadInputException>(() => new BatchLoader(_dataset, _normalizer, Layout with { PerActionDim = 7 }, new LoaderOptions()));
        Assert.Contains("action vectors have 2 values but model.action_head_config.per_action_dim is 7", e.Message);
    }
}
