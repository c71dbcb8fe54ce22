using LvMae.Model.Data;
using LvMae.Model.Masking;
using LvMae.Model.Retrieval;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class RepresentationTests
{
    [Fact]
    public void Long_videos_split_into_near_equal_consecutive_windows()
    {
        Assert.Equal([(0, 10)], Representation.Windows(10, 32));
        Assert.Equal([(0, 32)], Representation.Windows(32, 32));
        var windows = Representation.Windows(70, 32);
        Assert.Equal(3, windows.Count);
        Assert.Equal(70, windows.Sum(w => w.Length));
        Assert.All(windows, w => Assert.InRange(w.Length, 23, 24));
        Assert.Equal(0, windows[0].Start);
        Assert.Equal(windows[0].Length, windows[1].Start);
    }

    [Fact]
    public void Video_representation_is_independent_of_batching_and_matches_the_encoder()
    {
        manual_seed(8);
        using var model = new LvMaeModel(Synthetic.TinyConfig(16, 32));
        var rng = new Random(4);
        var shortVideo = Synthetic.Video(rng, 9, 16);
        var longVideo = Synthetic.Video(rng, 70, 16);

        var alone = Representation.Encode(model, shortVideo, 16);
        var many = Representation.EncodeMany(model, [longVideo, shortVideo], 16);
        ReferenceFixtureTests.AssertClose(alone.Cls, many[1].Cls, 1e-5f, "cls");
        ReferenceFixtureTests.AssertClose(alone.Tokens, many[1].Tokens, 1e-5f, "tokens");
        Assert.Equal(3, many[0].Windows);
        Assert.Equal(70 * 16, many[0].Tokens.Length);
        Assert.Equal(16, many[0].Mean().Length);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        var latent = model.EncodeAll(EmbeddingBatch.FromSequences([shortVideo], 16).ToTensor(), [9]);
        ReferenceFixtureTests.AssertClose(latent[0, 0].data<float>().ToArray(), alone.Cls, 1e-5f, "cls vs EncodeAll");
    }

    [Fact]
    public void Retrieval_returns_the_exact_caption_when_it_is_the_segment_embedding()
    {
        manual_seed(9);
        using var model = new LvMaeModel(Synthetic.TinyConfig(16, 32));
        var rng = new Random(6);
        var video = Synthetic.Video(rng, 12, 16);
        // Captions: one per segment (its own embedding, scaled: cosine ignores scale) + distractors.
        var captionEmbeddings = video.Select(v => v * 2.5f).Concat(Synthetic.Video(rng, 20, 16)).ToArray();
        var texts = Enumerable.Range(0, 32).Select(i => i < 12 ? $"segment {i}" : $"distractor {i}").ToList();
        var index = new CaptionIndex(captionEmbeddings, texts, 16);

        var results = ReconstructionRetrieval.Explain(model, video, 16, index, new RandomMasking(0.4), new Random(1), k: 3);
        Assert.Equal(MaskingStrategies.MaskedCount(12, 0.4), results.Count);
        foreach (var r in results)
        {
            Assert.Equal($"segment {r.Position}", r.Original[0].Caption);
            Assert.Equal(1.0, r.Original[0].Score, 5);
            Assert.Equal(3, r.Reconstructed.Count);
            Assert.True(r.Reconstructed[0].Score >= r.Reconstructed[1].Score);
        }
    }

    [Fact]
    public void Caption_index_loads_npy_and_text()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var npy = Path.Combine(dir.FullName, "captions.npy");
            LvMae.Formats.NpyArray.FromFloats([1, 0, 0, 1, 1, 1], 3, 2).Write(npy);
            File.WriteAllLines(Path.Combine(dir.FullName, "captions.txt"), ["x axis", "y axis", "diagonal"]);
            var index = CaptionIndex.Load(npy, Path.Combine(dir.FullName, "captions.txt"));
            Assert.Equal("diagonal", index.Search([0.9f, 1.1f], 1)[0].Caption);
        }
        finally { dir.Delete(true); }
    }
}
