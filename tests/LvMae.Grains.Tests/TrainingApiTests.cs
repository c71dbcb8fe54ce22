using System.Net;
using System.Net.Http.Json;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>The HTTP API's run endpoints (metrics, plot, stop, resume, delete) on a real Kestrel over the training cluster.</summary>
[Collection(TrainingClusterCollection.Name)]
public sealed class TrainingApiTests(TrainingClusterFixture fixture)
{
    [Fact]
    public async Task Run_metrics_plot_lifecycle_and_delete_over_http()
    {
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("api-run");
        await run.Start(new TrainingRunConfig
        {
            Preset = "tiny", Encoder = TrainingClusterFixture.Encoder, Steps = 12, CheckpointEvery = 6, ProbeEvery = -1, BatchSize = 8,
            MaxTokens = 32, Window = "10..160", Device = "cpu", TorchThreads = 1, Seed = 1,
        });
        await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));

        var (app, http) = await ApiTests.StartApiAsync(fixture.Client, fixture.Blobs);
        await using var _ = app;
        using var __ = http;

        var metrics = await http.GetAsync("/runs/api-run/metrics?rows=3");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var body = await metrics.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.Equal([4L, 8, 12], body.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").GetInt64()));
        var plot = await http.GetAsync("/runs/api-run/plot");
        Assert.Equal("image/png", plot.Content.Headers.ContentType!.MediaType);
        Assert.Equal(new byte[] { 137, 80, 78, 71 }, (await plot.Content.ReadAsByteArrayAsync())[..4]);

        var stop = await http.PostAsync("/runs/api-run/stop", null);
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        Assert.Equal(TrainingState.Done, (await stop.Content.ReadFromJsonAsync<TrainingProgress>(ApiTests.Json))!.State); // nothing to stop
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/runs/api-run/resume", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/runs/no-such-run/stop", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsync("/runs/bad%20name/resume", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/runs/api-run/metrics?rows=0")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/runs/api-run")).StatusCode);
        Assert.Equal(TrainingState.None, (await run.GetProgress()).State);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/runs/api-run/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/runs/api-run/plot")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync("/runs/api-run")).StatusCode);
        Assert.False(await fixture.Blobs.ExistsAsync(BlobLayout.RunConfig("api-run")));
    }
}
