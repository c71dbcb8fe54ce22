using System.Text;
using Azure.Storage.Blobs;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace LvMae.Grains.Tests;

/// <summary>What the grains rely on from grain state as wired by GrainsHosting (Orleans' Azure blob provider + <see cref="GrainStateJson"/>):
/// readable JSON blobs, ETag concurrency, durability across deactivation and silo restarts.</summary>
[Collection(GrainStateClusterCollection.Name)]
public sealed class GrainStateTests(GrainStateClusterFixture fixture)
{
    private readonly IClusterClient _client = fixture.Client;

    private static string NewKey() => $"k-{Guid.NewGuid():N}";

    private BlobContainerClient Container => fixture.StateContainer;

    [Fact]
    public async Task State_is_one_json_blob_without_clr_type_names()
    {
        var key = NewKey();
        await _client.GetGrain<ICounterGrain>(key).Add(3, "first");
        var blob = Container.GetBlobClient(BlobLayout.GrainStateBlob("state", "test-counter", key));
        var json = Encoding.UTF8.GetString((await blob.DownloadContentAsync()).Value.Content.ToArray());
        Assert.Contains("\"value\":3", json);
        Assert.DoesNotContain("$type", json);
        Assert.DoesNotContain("LvMae.Grains.Tests", json);
    }

    [Fact]
    public async Task State_survives_grain_deactivation()
    {
        var key = NewKey();
        var grain = _client.GetGrain<ICounterGrain>(key);
        await grain.Add(5, "a");
        await grain.Add(2, "b");
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
        var state = await _client.GetGrain<ICounterGrain>(key).Get();
        Assert.Equal(7, state.Value);
        Assert.Equal(["a", "b"], state.Notes);
        Assert.True(await grain.RecordExists());
    }

    [Fact]
    public async Task State_survives_restart_of_every_silo()
    {
        var key = NewKey();
        var grain = _client.GetGrain<ICounterGrain>(key);
        await grain.Add(11, "before restart");
        foreach (var silo in fixture.Cluster.Silos.ToList())
            await fixture.Cluster.RestartSiloAsync(silo);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync();
        var state = await _client.GetGrain<ICounterGrain>(key).Get();
        Assert.Equal(11, state.Value);
        Assert.Equal(12, await _client.GetGrain<ICounterGrain>(key).Add(1, "after restart"));
    }

    [Fact]
    public async Task Missing_state_reads_fresh_with_no_etag()
    {
        var grain = _client.GetGrain<ICounterGrain>(NewKey());
        Assert.Equal(0, (await grain.Get()).Value);
        Assert.Null(await grain.ETag());
        Assert.False(await grain.RecordExists());

        var direct = new GrainState<CounterState>();
        await fixture.Storage().ReadStateAsync("state", GrainId.Create("test-counter", NewKey()), direct);
        Assert.Equal(0, direct.State!.Value);
        Assert.Null(direct.ETag);
        Assert.False(direct.RecordExists);
    }

    [Fact]
    public async Task Concurrent_writes_with_the_same_old_etag_second_is_rejected()
    {
        var id = GrainId.Create("test-counter", NewKey());
        var storage0 = fixture.Storage(0);
        var storage1 = fixture.Storage(1);
        var initial = new GrainState<CounterState>(new CounterState { Value = 1 });
        await storage0.WriteStateAsync("state", id, initial);
        var oldEtag = initial.ETag!;

        var first = new GrainState<CounterState>(new CounterState { Value = 2 }, oldEtag);
        var second = new GrainState<CounterState>(new CounterState { Value = 3 }, oldEtag);
        await storage0.WriteStateAsync("state", id, first);
        Assert.NotEqual(oldEtag, first.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage1.WriteStateAsync("state", id, second));

        var read = new GrainState<CounterState>();
        await storage1.ReadStateAsync("state", id, read);
        Assert.Equal(2, read.State!.Value);
        Assert.Equal(first.ETag, read.ETag);
    }

    [Fact]
    public async Task Create_without_etag_when_blob_exists_is_rejected()
    {
        var id = GrainId.Create("test-counter", NewKey());
        await fixture.Storage(0).WriteStateAsync("state", id, new GrainState<CounterState>(new CounterState { Value = 1 }));
        await Assert.ThrowsAsync<InconsistentStateException>(() =>
            fixture.Storage(1).WriteStateAsync("state", id, new GrainState<CounterState>(new CounterState { Value = 9 })));
    }

    [Fact]
    public async Task Racing_parallel_writers_exactly_one_wins()
    {
        var id = GrainId.Create("test-counter", NewKey());
        var initial = new GrainState<CounterState>(new CounterState());
        await fixture.Storage().WriteStateAsync("state", id, initial);
        var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            try
            {
                await fixture.Storage(i % 2).WriteStateAsync("state", id, new GrainState<CounterState>(new CounterState { Value = i }, initial.ETag));
                return true;
            }
            catch (InconsistentStateException) { return false; }
        })).ToArray();
        var results = await Task.WhenAll(writers);
        Assert.Single(results, r => r);
    }

    [Fact]
    public async Task Clear_deletes_the_blob_and_the_next_read_is_fresh()
    {
        var key = NewKey();
        var grain = _client.GetGrain<ICounterGrain>(key);
        await grain.Add(4, "x");
        var blob = Container.GetBlobClient(BlobLayout.GrainStateBlob("state", "test-counter", key));
        Assert.True((await blob.ExistsAsync()).Value);
        await grain.Clear();
        Assert.False((await blob.ExistsAsync()).Value);
        Assert.Null(await grain.ETag());
        Assert.Equal(0, (await grain.Get()).Value);
        await grain.Reload();
        Assert.False(await grain.RecordExists());
        Assert.Equal(1, await grain.Add(1, "again"));
    }

    [Fact]
    public async Task Clear_with_stale_etag_is_rejected_and_keeps_the_newer_state()
    {
        var id = GrainId.Create("test-counter", NewKey());
        var storage = fixture.Storage();
        var a = new GrainState<CounterState>(new CounterState { Value = 1 });
        await storage.WriteStateAsync("state", id, a);
        var stale = new GrainState<CounterState>(a.State, a.ETag);
        await storage.WriteStateAsync("state", id, a);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("state", id, stale));
        var read = new GrainState<CounterState>();
        await storage.ReadStateAsync("state", id, read);
        Assert.True(read.RecordExists);
        Assert.Equal(a.ETag, read.ETag);
    }

    [Fact]
    public async Task Write_after_someone_else_cleared_is_rejected()
    {
        var id = GrainId.Create("test-counter", NewKey());
        var storage = fixture.Storage();
        var a = new GrainState<CounterState>(new CounterState { Value = 1 });
        await storage.WriteStateAsync("state", id, a);
        var other = new GrainState<CounterState>(a.State, a.ETag);
        await storage.ClearStateAsync("state", id, other);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("state", id, a));
    }
}
