using System.Text;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Storage.Tests;

public sealed class BlobStoreTests(AzuriteFixture fixture) : IClassFixture<AzuriteFixture>
{
    private async Task<BlobStore> NewStoreAsync() => new(await fixture.NewContainerAsync("store"));

    [Fact]
    public async Task Upload_download_exists_list_and_metadata()
    {
        var store = await NewStoreAsync();
        await store.UploadAsync("videos/a/segments.json", Encoding.UTF8.GetBytes("[1]"), new Dictionary<string, string> { ["encoder"] = "builtin" });
        await store.UploadAsync("videos/b/segments.json", Encoding.UTF8.GetBytes("[2]"));
        await store.UploadAsync("runs/r/config.json", Encoding.UTF8.GetBytes("{}"));
        Assert.True(await store.ExistsAsync("videos/a/segments.json"));
        Assert.False(await store.ExistsAsync("videos/c/segments.json"));
        Assert.Equal("[2]", Encoding.UTF8.GetString((await store.TryDownloadAsync("videos/b/segments.json"))!));
        Assert.Null(await store.TryDownloadAsync("nope"));

        var listed = new List<BlobEntry>();
        await foreach (var e in store.ListAsync("videos/")) listed.Add(e);
        Assert.Equal(["videos/a/segments.json", "videos/b/segments.json"], listed.Select(e => e.Name).Order());
        Assert.Equal("builtin", listed.Single(e => e.Name.StartsWith("videos/a")).Metadata["encoder"]);
        Assert.Equal("builtin", (await store.TryGetPropertiesAsync("videos/a/segments.json"))!.Metadata["encoder"]);
    }

    [Fact]
    public async Task File_round_trip()
    {
        var store = await NewStoreAsync();
        var src = Path.GetTempFileName();
        var dst = Path.Combine(Path.GetTempPath(), $"lvmae-{Guid.NewGuid():N}", "copy.bin");
        try
        {
            var bytes = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
            await File.WriteAllBytesAsync(src, bytes);
            await store.UploadFileAsync("videos/x/source.mp4", src, new Dictionary<string, string> { ["sha256"] = "abc" });
            await store.DownloadToFileAsync("videos/x/source.mp4", dst);
            Assert.Equal(bytes, await File.ReadAllBytesAsync(dst));
        }
        finally
        {
            File.Delete(src);
            Directory.Delete(Path.GetDirectoryName(dst)!, true);
        }
    }

    [Fact]
    public async Task Conditional_upload_create_only_and_if_match()
    {
        var store = await NewStoreAsync();
        var etag = await store.UploadConditionalAsync("a.json", "1"u8.ToArray(), ifMatch: null);
        await Assert.ThrowsAsync<BlobConflictException>(() => store.UploadConditionalAsync("a.json", "2"u8.ToArray(), ifMatch: null));
        var etag2 = await store.UploadConditionalAsync("a.json", "3"u8.ToArray(), ifMatch: etag);
        await Assert.ThrowsAsync<BlobConflictException>(() => store.UploadConditionalAsync("a.json", "4"u8.ToArray(), ifMatch: etag));
        Assert.NotEqual(etag, etag2);
        Assert.Equal("3", Encoding.UTF8.GetString((await store.TryDownloadAsync("a.json"))!));
    }
}
