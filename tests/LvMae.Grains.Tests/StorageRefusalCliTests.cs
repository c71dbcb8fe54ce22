using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>
/// Issue 26, item 3, through the `lvmae` CLI as its own process against a silo process on a real Azurite: a refusal no
/// retry can change (here a wrong account key: 403 on the client's upload; a container the key cannot reach behaves the
/// same) stops the batch at once, is reported once with the operation, the blob and the storage's message, and the command
/// exits 4, instead of "storage or cluster unavailable ...; waiting 30 s" for 15 minutes.
/// </summary>
public sealed class StorageRefusalCliTests(AzuriteFixture azurite, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-refusal-").FullName;

    [Fact]
    public async Task Ingest_with_a_wrong_account_key_reports_the_403_once_and_exits_non_zero_without_waiting()
    {
        var cluster = $"refuse-{Guid.NewGuid():N}"[..16];
        var env = new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = azurite.ConnectionString,
            ["Storage__Container"] = cluster,
            ["Clustering__ClusterId"] = cluster,
            ["Clustering__ServiceId"] = cluster,
            ["Logging__MinimumLevel"] = "Warning",
        };
        var videos = Directory.CreateDirectory(Path.Combine(_dir, "videos")).FullName;
        for (var i = 0; i < 4; i++)
            await TestVideos.GenerateAsync(Path.Combine(videos, $"clip{i}.mp4"), 3, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { HueDegrees = 50 * i });
        var silo = await ExternalSilo.StartAsync("refusal-silo", env, _dir);
        try
        {
            var key = azurite.ConnectionString.Split(';').Single(p => p.StartsWith("AccountKey=", StringComparison.Ordinal));
            var cliEnv = new Dictionary<string, string>(env)
            {
                ["Storage__ConnectionString"] = azurite.ConnectionString.Replace(key, "AccountKey=" + Convert.ToBase64String(new byte[64])),
                ["Clustering__GatewayPort"] = silo.GatewayPort.ToString(CultureInfo.InvariantCulture),
                ["Clustering__SiloPort"] = silo.SiloPort.ToString(CultureInfo.InvariantCulture),
            };
            var watch = Stopwatch.StartNew();
            var (code, output) = await new CliProcess(_dir, CliProcess.Settings(cliEnv)).RunAsync("ingest", videos, "--encoder", "builtin", "--parallel", "2");
            log.WriteLine($"exit {code} after {watch.Elapsed.TotalSeconds:F1} s: {output}");
            Assert.True(code == 4, $"exit {code}: {output}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed.TotalSeconds:F0} s: {output}");
            Assert.Single(Regex.Matches(output, "not authorized"));
            // The client's first request is already refused: creating the container if needed, else the upload.
            Assert.Matches(@"storage (Create Container on refuse-[0-9a-f]+|Put Blob on refuse-[0-9a-f]+/videos/[0-9a-z]+/source\.mp4) failed: 403", output);
            Assert.Contains("storage said:", output);
            Assert.DoesNotContain("waiting", output);
        }
        finally
        {
            await silo.StopAsync();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
