using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using LvMae.Cli;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Silo;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// `lvmae verify` (issue 28, item 3): besides the index and the data blobs against the persisted states, it compares the live
/// index (what the shards serve to GET /videos) with each shard's persisted log, on a real silo and Azurite: it agrees after
/// an ingest, and fails, naming the video, when storage lost an append of the log the shard had seen acknowledged (a crashed
/// storage coming back without its last writes); a state rolled back behind the live grain's back is its own count.
/// </summary>
[Collection(SiloHostCollection.Name)]
public sealed class VerifyLiveIndexTests(SiloHostFixture fixture)
{
    private static Task<(int Code, string Output)> RunAsync(params string[] args) => InProcessCli.RunAsync(args);

    [Fact]
    public async Task Verify_fails_when_the_live_index_differs_from_the_persisted_log_and_passes_when_they_agree()
    {
        const string container = "verify-live-tests";
        var settings = new LvMaeSiloSettings
        {
            Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = container },
            Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = "verify-live", ServiceId = "verify-live" },
            Api = new ApiOptions { Port = 0 },
            // The test rolls storage back behind the shards' backs and expects verify to see it: shards that checked their
            // logs on their own (they do while a change is recent) would repair it first (OutageRecheckTests covers that).
            Index = new IndexOptions { OutageLookBack = TimeSpan.Zero },
            Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
        };
        var dir = Path.Combine(fixture.MediaDir, "verify-live");
        Directory.CreateDirectory(dir);
        var ids = new[] { "vlive-a", "vlive-b", "vlive-c" };
        for (var i = 0; i < ids.Length; i++)
            NpyArray.FromFloats(Enumerable.Range(0, 4 * 8).Select(x => (float)(x + i)).ToArray(), 4, 8).Write(Path.Combine(dir, ids[i] + ".npy"));

        using (InProcessCli.Target(settings))
        await using (var silo = await LvMaeSiloHost.StartAsync(settings))
        {
            var import = await RunAsync("import-embeddings", dir);
            Assert.True(import.Code == ExitCodes.Ok, import.Output);

            // Agreeing: every shard's log read, no difference, exit 0; the table has its own line.
            var (code, json) = await VerifyAsync();
            Assert.True(code == ExitCodes.Ok, json.ToString());
            Assert.Equal(IndexLayout.DefaultShards, json.GetProperty("shardLogsRead").GetInt32());
            Assert.Equal(0, json.GetProperty("logDiffers").GetInt32());
            var table = await RunAsync("verify");
            Assert.Equal(ExitCodes.Ok, table.Code);
            Assert.Contains("live index (what the API serves) differs from the persisted log\t0", table.Output);

            // Storage loses the last append of a shard's log (its committed block list goes back one block): the shard still
            // serves the entry it had written, the log no longer holds it. Nothing else disagrees: the states are intact.
            var blobs = fixture.Azurite.ServiceClient().GetBlobContainerClient(container);
            var shard = new IndexLayout(IndexLayout.DefaultShards).ShardOf(ids[0]);
            var log = await CurrentLogAsync(blobs, shard);
            var blocks = (await log.GetBlockListAsync(BlockListTypes.Committed)).Value.CommittedBlocks.ToList();
            var content = (await log.DownloadContentAsync()).Value.Content.ToArray();
            var lastBlock = Encoding.UTF8.GetString(content, content.Length - (int)blocks[^1].SizeLong, (int)blocks[^1].SizeLong);
            // The video whose line the last block ends with (the shard's latest append; the 3 imports may share a shard).
            var victim = lastBlock.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("id", out _)).Select(e => e.GetProperty("id").GetString()!).Last();
            Assert.Contains(victim, ids);
            await log.CommitBlockListAsync(blocks.SkipLast(1).Select(b => b.Name));

            (code, json) = await VerifyAsync();
            Assert.Equal(ExitCodes.Failed, code);
            Assert.Equal(1, json.GetProperty("logDiffers").GetInt32());
            Assert.Equal(0, json.GetProperty("stale").GetInt32() + json.GetProperty("missing").GetInt32() + json.GetProperty("phantom").GetInt32());
            var line = Assert.Single(json.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!), p => p.StartsWith(victim, StringComparison.Ordinal));
            Assert.Contains("the live index (what the API serves) has Embedded", line);
            Assert.Contains("the video state says Embedded", line);
            Assert.Contains("the index log in storage has", line);
            // --repair does not hide it: the log is not what the index serves.
            Assert.Equal(ExitCodes.Failed, (await RunAsync("verify", "--repair")).Code);

            // Storage gets the block back (committing a list drops the blocks it leaves out, so it is staged again): the log agrees again.
            using (var again = new MemoryStream(content, content.Length - (int)blocks[^1].SizeLong, (int)blocks[^1].SizeLong))
                await log.StageBlockAsync(blocks[^1].Name, again);
            await log.CommitBlockListAsync(blocks.Select(b => b.Name));
            (code, json) = await VerifyAsync();
            Assert.True(code == ExitCodes.Ok, json.ToString());
            Assert.Equal(0, json.GetProperty("logDiffers").GetInt32());

            // A state rolled back behind the live grain's back (storage lost its last write): the live index and its log still
            // agree with each other, not with the state, whose version is older: counted as an entry ahead of its state.
            var stateBlob = fixture.Azurite.ServiceClient().GetBlobContainerClient(BlobLayout.GrainStateContainer(container))
                .GetBlobClient(BlobLayout.GrainStateBlob("state", "lvmae.video", ids[1]));
            var original = (await stateBlob.DownloadContentAsync()).Value.Content;
            var state = JsonSerializer.Deserialize<VideoState>(original.ToArray(), GrainStateJson.Options)!;
            state.Stage = VideoStage.Registered;
            state.Version -= 1;
            await stateBlob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(state, GrainStateJson.Options)), overwrite: true);
            (code, json) = await VerifyAsync();
            Assert.Equal(ExitCodes.Failed, code);
            Assert.Equal(0, json.GetProperty("logDiffers").GetInt32());
            Assert.Equal(1, json.GetProperty("ahead").GetInt32());
            Assert.Contains(json.GetProperty("problems").EnumerateArray(), p => p.GetString()!.StartsWith(ids[1], StringComparison.Ordinal) && p.GetString()!.Contains("newer than"));
            await stateBlob.UploadAsync(original, overwrite: true);
            Assert.Equal(ExitCodes.Ok, (await VerifyAsync()).Code);
        }
    }

    private static async Task<(int Code, JsonElement Report)> VerifyAsync()
    {
        var (code, output) = await RunAsync("verify", "--json");
        var start = output.IndexOf('{');
        Assert.True(start >= 0, output);
        using var doc = JsonDocument.Parse(output[start..]);
        return (code, doc.RootElement.Clone());
    }

    /// <summary>The shard's current log segment (the generation its head names, 0 without a head; the last segment that exists).</summary>
    private static async Task<BlockBlobClient> CurrentLogAsync(Azure.Storage.Blobs.BlobContainerClient blobs, int shard)
    {
        var head = blobs.GetBlobClient(BlobLayout.IndexHead(shard));
        var generation = await head.ExistsAsync() // no head until the shard's first compaction: generation 0
            ? JsonDocument.Parse((await head.DownloadContentAsync()).Value.Content.ToString()).RootElement.GetProperty("generation").GetInt64()
            : 0;
        var segment = 0;
        while (await blobs.GetBlobClient(BlobLayout.IndexLog(shard, generation, segment + 1)).ExistsAsync()) segment++;
        return blobs.GetBlockBlobClient(BlobLayout.IndexLog(shard, generation, segment));
    }
}
