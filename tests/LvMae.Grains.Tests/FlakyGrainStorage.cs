using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// The silo's real "lvmae" grain storage, except that the next N writes of a chosen grain fail (a storage blip):
/// installed around whatever provider the silo registered, so tests inject faults into the real storage path.
/// </summary>
public sealed class FlakyGrainStorage(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly ConcurrentDictionary<string, int> FailingWrites = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, int> FailedWrites = new(StringComparer.Ordinal);

    /// <summary>The next <paramref name="count"/> writes of <paramref name="grainId"/> ("type/key") throw.</summary>
    public static void FailNextWrites(string grainId, int count) => FailingWrites[grainId] = count;

    /// <summary>Writes of <paramref name="grainId"/> that were made to fail so far.</summary>
    public static int Failed(string grainId) => FailedWrites.GetValueOrDefault(grainId);

    /// <summary>Wraps the keyed grain storage <paramref name="name"/> registered so far.</summary>
    public static void Install(IServiceCollection services, string name)
    {
        var original = services.Last(d => d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, name) && d.KeyedImplementationFactory is not null);
        services.Remove(original);
        services.AddKeyedSingleton<IGrainStorage>(name, (sp, key) => new FlakyGrainStorage((IGrainStorage)original.KeyedImplementationFactory!(sp, key)));
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var id = grainId.ToString();
        while (FailingWrites.TryGetValue(id, out var left) && left > 0)
        {
            if (!FailingWrites.TryUpdate(id, left - 1, left)) continue;
            FailedWrites.AddOrUpdate(id, 1, (_, n) => n + 1);
            return Task.FromException(new IOException($"injected storage failure writing {id}"));
        }
        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
}
