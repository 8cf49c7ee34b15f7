using Vla.Model.Tokenization;
using Vla.Runtime;

namespace Vla.Tests.Model;

public class PaliGemmaTokenizerTests
{
    private static PaliGemmaTokenizer Sample => PaliGemmaTokenizer.Load(Path.Combine(TestFiles.RepoRoot, "data-samples", "tiny-paligemma"));

    [Fact]
    public void The_sample_tokenizer_has_Gemmas_special_ids()
    {
        var tokenizer = Sample;
        Assert.Equal((2, 1, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId));
        Assert.Equal(300, tokenizer.VocabularySize);
    }

    [Fact]
    public void A_prompt_becomes_BOS_then_the_prompt_and_a_newline_as_one_string()
    {
        var ids = Sample.EncodePrompt("pick up the red cube", 64, out bool truncated);
        Assert.False(truncated);
        Assert.Equal(2, ids[0]);
        Assert.Equal(4 + '\n', ids[^1]); // byte fallback: <0x0A> follows <pad> </s> <s> <unk> and the 10 lower bytes
        Assert.Equal("pick up the red cube\n", Sample.Decode(ids));
    }

    [Fact]
    public void No_dummy_prefix_is_added()
    {
        var withSpace = Sample.EncodePrompt(" pick", 64, out _);
        var without = Sample.EncodePrompt("pick", 64, out _);
        Assert.NotEqual(withSpace[1], without[1]);
    }

    [Fact]
    public void Long_prompts_are_cut_and_reported()
    {
        var ids = Sample.EncodePrompt("pick up the yellow cube and then the green cube", 5, out bool truncated);
        Assert.True(truncated);
        Assert.Equal(5, ids.Length);
    }

    [Fact]
    public void A_batch_is_right_padded_with_a_mask()
    {
        var batch = Sample.EncodeBatch(["pick up the red cube", "pick"], 64);
        Assert.Equal(2, batch.Batch);
        int longest = Sample.EncodePrompt("pick up the red cube", 64, out _).Length;
        int shortest = Sample.EncodePrompt("pick", 64, out _).Length;
        Assert.Equal(longest, batch.Length);
        Assert.Equal(Enumerable.Repeat(true, shortest).Concat(Enumerable.Repeat(false, longest - shortest)), batch.Mask[longest..]);
        Assert.All(batch.Ids[(longest + shortest)..], id => Assert.Equal(0, id));
    }

    [Fact]
    public void A_folder_without_tokenizer_is_bad_input()
    {
        var e = Assert.Throws<BadInputException>(() => PaliGemmaTokenizer.Load("/nonexistent"));
        Assert.Contains("tokenizer.model", e.Message);
    }
}
