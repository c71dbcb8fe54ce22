namespace LvMae.Pipeline.Tests;

public class EmbeddingLoaderExtensionsTests
{
    private sealed class ThrowingLoader(Exception e) : IEmbeddingLoader
    {
        public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) => Task.FromException<LoadedEmbeddings>(e);
    }

    [Fact]
    public async Task TryLoad_leaves_out_unloadable_videos_and_other_widths_and_reports_only_the_unloadable()
    {
        var loader = new InMemoryEmbeddingLoader();
        loader.Add(new LoadedEmbeddings("wide", new float[8], 2, 4));
        loader.Add(new LoadedEmbeddings("narrow", new float[6], 3, 2));
        var skipped = new List<EmbeddingLoadException>();
        Task<LoadedEmbeddings?> Load(string id, int? dim) => loader.TryLoadAsync(new EmbeddedVideoDescriptor(id, "builtin"), dim, skipped.Add);

        Assert.Equal("wide", (await Load("wide", 4))?.VideoId);
        Assert.Equal("narrow", (await Load("narrow", null))?.VideoId);   // no width asked: any width
        Assert.Null(await Load("narrow", 4));                              // another width: left out, not reported
        Assert.Empty(skipped);
        Assert.Null(await Load("missing", 4));                             // cannot be loaded: left out and reported
        Assert.Equal("missing", Assert.Single(skipped).VideoId);
        Assert.Null(await loader.TryLoadAsync(new EmbeddedVideoDescriptor("missing", "builtin")));   // no callback: still null
    }

    [Fact]
    public async Task TryLoad_lets_other_failures_through()
    {
        var loader = new ThrowingLoader(new IOException("disk gone"));
        await Assert.ThrowsAsync<IOException>(() => loader.TryLoadAsync(new EmbeddedVideoDescriptor("v", "builtin"), 4, _ => Assert.Fail("not a skip")));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new ThrowingLoader(new OperationCanceledException()).TryLoadAsync(new EmbeddedVideoDescriptor("v", "builtin")));
    }
}
