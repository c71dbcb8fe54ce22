using LvMae.Storage;

namespace LvMae.Storage.Tests;

/// <summary>Blob names built from user input (video ids, run names, encoder specs, plot names) cannot leave their prefix.</summary>
public sealed class BlobLayoutTests
{
    public static TheoryData<string> BadIds => new()
    {
        "../etc", "a/b", "a\\b", ".hidden", "..", "", " ", "x y", "x\0y", "v%2F..", "ü", new string('a', 129), "a?b", "a#b", "runs/../x",
    };

    [Theory]
    [MemberData(nameof(BadIds))]
    public void Ids_that_could_escape_or_confuse_a_blob_name_are_refused_with_their_text(string id)
    {
        Assert.False(BlobLayout.IsValidId(id));
        var e = Assert.Throws<ArgumentException>(() => BlobLayout.VideoPrefix(id));
        Assert.Contains("invalid video id", e.Message);
        Assert.Throws<ArgumentException>(() => BlobLayout.RunPrefix(id));
        Assert.Throws<ArgumentException>(() => BlobLayout.RunPlot("run", id));
    }

    [Theory]
    [InlineData("model:../../../etc/passwd")]
    [InlineData("model:/abs/path/clip.onnx")]
    [InlineData("model:a/b/../../c.onnx")]
    [InlineData("x/../../y")]
    public void Encoder_specs_become_one_path_segment(string spec)
    {
        var name = BlobLayout.EncoderFileName(spec);
        Assert.DoesNotContain('/', name);
        Assert.DoesNotContain('\\', name);
        Assert.False(name.StartsWith('.'));
        Assert.StartsWith("videos/v1/embeddings/", BlobLayout.Embeddings("v1", spec));
        Assert.Equal(3, BlobLayout.Embeddings("v1", spec).Count(c => c == '/'));
    }

    [Fact]
    public void Every_video_blob_stays_under_its_video_prefix_and_extensions_are_sanitised()
    {
        Assert.Equal("videos/v1/source.mp4", BlobLayout.Source("v1", ".MP4"));
        Assert.Equal("videos/v1/source.bin", BlobLayout.Source("v1", ".m/../../x"));
        Assert.Equal("videos/v1/segments.json", BlobLayout.Segments("v1"));
        Assert.Equal("state-lvmae.video/v1.json", BlobLayout.GrainStateBlob("state", "lvmae.video", "v1"));
        Assert.Equal("lvmae-state", BlobLayout.GrainStateContainer("lvmae"));
        Assert.True(BlobLayout.IsValidContainerName(BlobLayout.GrainStateContainer(new string('a', 63))));
    }
}
