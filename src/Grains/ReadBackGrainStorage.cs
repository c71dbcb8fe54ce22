using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// Orleans' grain storage, with writes whose outcome is unknown resolved by reading back. The blob provider's writes are
/// conditional (If-Match the ETag read, or If-None-Match for a new record) and the Azure SDK retries a request whose response
/// was lost; when storage had applied the first try, the retry fails its condition and the provider throws
/// <see cref="InconsistentStateException"/> although the state on storage is exactly ours. So on that exception the stored
/// state is read and compared (<see cref="UnknownWrites.ResolveStateWrite"/>): ours, its ETag is adopted and the write
/// succeeds; not ours, the exception stands (another writer won: the grain reloads and decides again). A read-back that
/// fails (storage gone again) throws its own storage error: the outcome is still unknown and the caller's retry repeats this.
/// </summary>
public sealed class ReadBackGrainStorage(IGrainStorage inner, IGrainStorageSerializer serializer, ILogger logger)
    : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var written = serializer.Serialize(grainState.State).ToArray(); // what this write sends
        try
        {
            await inner.WriteStateAsync(stateName, grainId, grainState);
        }
        catch (InconsistentStateException)
        {
            var stored = new GrainState<T>();
            await inner.ReadStateAsync(stateName, grainId, stored);
            var storedBytes = stored.RecordExists ? serializer.Serialize(stored.State).ToArray() : null;
            if (UnknownWrites.ResolveStateWrite(written, storedBytes) != WriteReadBack.Ours) throw;
            logger.LogInformation("grain {Grain}: a state write's response was lost but storage holds it; adopting ETag {ETag}", grainId, stored.ETag);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);

    /// <summary>Wraps the keyed grain storage <paramref name="name"/> registered so far.</summary>
    public static void Install(IServiceCollection services, string name, IGrainStorageSerializer serializer)
    {
        var original = services.Last(d => d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, name) && d.KeyedImplementationFactory is not null);
        services.Remove(original);
        services.AddKeyedSingleton<IGrainStorage>(name, (sp, key) => new ReadBackGrainStorage(
            (IGrainStorage)original.KeyedImplementationFactory!(sp, key), serializer,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<ReadBackGrainStorage>()));
    }
}
