using Microsoft.ML.Tokenizers;
using Vla.Runtime;

namespace Vla.Model.Tokenization;

/// <summary>
/// PaliGemma's text side: the model folder's SentencePiece <c>tokenizer.model</c> through
/// Microsoft.ML.Tokenizers, laid out as the Hugging Face processor does after the image tokens:
/// BOS + tokens of <c>prompt + "\n"</c> (one string, no dummy prefix).
/// </summary>
public sealed class PaliGemmaTokenizer
{
    private readonly SentencePieceTokenizer _tokenizer;

    /// <summary>Beginning-of-sequence id (Gemma: 2).</summary>
    public int BosId { get; }
    /// <summary>End-of-sequence id (Gemma: 1).</summary>
    public int EosId { get; }
    /// <summary>Padding id (Gemma: 0).</summary>
    public int PadId { get; }

    /// <summary>Where this tokenizer was read from (a <c>tokenizer.model</c> file, or the sample tokenizer built into Vla.Core).</summary>
    public string SourcePath { get; }

    private readonly byte[] _model;

    /// <summary>Entries in the SentencePiece vocabulary.</summary>
    public int VocabularySize => _tokenizer.Vocabulary.Count;

    private PaliGemmaTokenizer(SentencePieceTokenizer tokenizer, byte[] model, string sourcePath)
    {
        _tokenizer = tokenizer;
        _model = model;
        SourcePath = sourcePath;
        BosId = tokenizer.BeginningOfSentenceId;
        EosId = tokenizer.EndOfSentenceId;
        PadId = tokenizer.Vocabulary.TryGetValue("<pad>", out int pad) ? pad : 0;
    }

    /// <summary>Loads <c>tokenizer.model</c> from <paramref name="folder"/> (or a path to the file itself).</summary>
    public static PaliGemmaTokenizer Load(string folder)
    {
        string path = File.Exists(folder) ? folder : Path.Combine(folder, "tokenizer.model");
        if (!File.Exists(path)) throw new BadInputException($"{path} does not exist; the model folder needs its SentencePiece tokenizer.model.");
        return FromBytes(File.ReadAllBytes(path), Path.GetFullPath(path));
    }

    /// <summary>The sample tokenizer built into Vla.Core (trained on the sample prompts; see data-samples/README.md).</summary>
    public static PaliGemmaTokenizer Sample()
    {
        using var resource = typeof(PaliGemmaTokenizer).Assembly.GetManifestResourceStream(SampleResource)
            ?? throw new InvalidOperationException($"The {SampleResource} resource is missing from Vla.Core.");
        using var bytes = new MemoryStream();
        resource.CopyTo(bytes);
        return FromBytes(bytes.ToArray(), $"Vla.Core:{SampleResource}");
    }

    private const string SampleResource = "Vla.SampleTokenizer.model";

    private static PaliGemmaTokenizer FromBytes(byte[] model, string source)
    {
        try
        {
            using var stream = new MemoryStream(model, writable: false);
            return new PaliGemmaTokenizer(SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false), model, source);
        }
        catch (Exception e) when (e is not BadInputException and not IOException)
        {
            throw new BadInputException($"{source}: not a SentencePiece model ({e.Message.TrimEnd('.')}).", e);
        }
    }

    /// <summary>Writes the SentencePiece model to <paramref name="path"/> (a checkpoint's <c>tokenizer.model</c>).</summary>
    public void Save(string path) => File.WriteAllBytes(path, _model);

    /// <summary>BOS + the ids of <c>prompt + "\n"</c>, cut to at most <paramref name="maxLength"/> ids.</summary>
    public long[] EncodePrompt(string prompt, int maxLength, out bool truncated) => EncodeText(prompt + "\n", maxLength, out truncated);

    /// <summary>BOS + the ids of <paramref name="text"/> as it is, cut to at most <paramref name="maxLength"/> ids.</summary>
    public long[] EncodeText(string text, int maxLength, out bool truncated)
    {
        var pieces = _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        var ids = new long[pieces.Count + 1];
        ids[0] = BosId;
        for (int i = 0; i < pieces.Count; i++) ids[i + 1] = pieces[i];
        truncated = ids.Length > maxLength;
        return truncated ? ids[..maxLength] : ids;
    }

    /// <summary>Encodes several prompts (each + "\n"), right-padded with PAD to the longest (at most <paramref name="maxLength"/>).</summary>
    public TokenBatch EncodeBatch(IReadOnlyList<string> prompts, int maxLength) => EncodeTexts(prompts.Select(p => p + "\n").ToList(), maxLength);

    /// <summary>Encodes several texts as they are, right-padded with PAD to the longest (at most <paramref name="maxLength"/>).</summary>
    public TokenBatch EncodeTexts(IReadOnlyList<string> texts, int maxLength)
    {
        int truncated = 0;
        var rows = texts.Select(t =>
        {
            var ids = EncodeText(t, maxLength, out bool cut);
            if (cut) truncated++;
            return ids;
        }).ToList();
        int length = rows.Count == 0 ? 0 : rows.Max(r => r.Length);
        var flat = new long[rows.Count * length];
        var mask = new bool[rows.Count * length];
        Array.Fill(flat, PadId);
        for (int b = 0; b < rows.Count; b++)
        {
            rows[b].CopyTo(flat, b * length);
            mask.AsSpan(b * length, rows[b].Length).Fill(true);
        }
        return new TokenBatch(flat, mask, rows.Count, length, truncated);
    }

    /// <summary>Text of <paramref name="ids"/>, without BOS, EOS or padding.</summary>
    public string Decode(IEnumerable<long> ids) =>
        _tokenizer.Decode(ids.Where(i => i != BosId && i != EosId && i != PadId && i < VocabularySize).Select(i => (int)i)) ?? "";
}
