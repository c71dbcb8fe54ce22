using System.Net.Http.Json;
using System.Text.Json;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// A cluster as machines run it, for fault trials: silo PROCESSES with membership in Azure Table storage on one Azurite
/// (blobs + tables), each trial in its own container and cluster id. Silos can be SIGKILLed and started again; the CLI
/// runs as its own process against them.
/// </summary>
public sealed class ChaosCluster : IAsyncDisposable
{
    private readonly List<ExternalSilo> _silos = [];
    private readonly Dictionary<string, string> _env;
    private int _started;

    private ChaosCluster(AzuriteFixture azurite, string name, string work)
    {
        (Azurite, Name, Work) = (azurite, name, work);
        _env = ExternalSilo.TableClusterSettings(azurite.ConnectionString, name);
        _env["Processing__MaxConcurrentJobs"] = "1";
    }

    public AzuriteFixture Azurite { get; }
    public string Name { get; }
    public string Work { get; }
    public IReadOnlyList<ExternalSilo> Silos => _silos;
    public IEnumerable<ExternalSilo> Live => _silos.Where(s => !s.HasExited);
    /// <summary>What `lvmae` needs to reach this cluster.</summary>
    public IReadOnlyDictionary<string, string> CliEnvironment => _env;

    public static async Task<ChaosCluster> StartAsync(AzuriteFixture azurite, string name, string work, int silos = 3, IReadOnlyDictionary<string, string>? extra = null)
    {
        var cluster = new ChaosCluster(azurite, name, work);
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) cluster._env[k] = v;
        await Task.WhenAll(Enumerable.Range(0, silos).Select(_ => cluster.StartSiloAsync()));
        return cluster;
    }

    public async Task<ExternalSilo> StartSiloAsync()
    {
        var silo = await ExternalSilo.StartAsync($"{Name}-silo{Interlocked.Increment(ref _started)}", _env, Work, TimeSpan.FromMinutes(3));
        lock (_silos) _silos.Add(silo);
        return silo;
    }

    public Task<(int Code, string Output)> CliAsync(params string[] args) =>
        new CliProcess(Work, CliProcess.Settings(_env)).RunRawAsync(TimeSpan.FromMinutes(30), args);

    /// <summary>The corpus summary from any live silo's API (null while none answers).</summary>
    public async Task<JsonElement?> SummaryAsync(HttpClient http)
    {
        foreach (var silo in Live)
            try { return await http.GetFromJsonAsync<JsonElement>(new Uri(silo.Api, "corpus/summary")); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException) { }
        return null;
    }

    public static int Stage(JsonElement summary, string stage) =>
        summary.GetProperty("byStage").TryGetProperty(stage, out var v) ? v.GetInt32() : 0;

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_silos.Select(s => s.DisposeAsync().AsTask()));
    }
}
