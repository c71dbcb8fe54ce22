using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains;

public sealed class RunRegistryState
{
    public Dictionary<string, RunSummary> Runs { get; set; } = [];
}

/// <summary>Every training run's summary by name (persisted); training run grains upsert, API and CLI read.</summary>
[GrainType("lvmae.run-registry")]
public sealed class RunRegistryGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<RunRegistryState> state) : Grain, IRunRegistryGrain
{
    public async Task Upsert(RunSummary run)
    {
        BlobLayout.ValidateId(run.Name, "run name");
        state.State.Runs[run.Name] = run;
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<RunSummary>> List() =>
        Task.FromResult<IReadOnlyList<RunSummary>>(state.State.Runs.Values.OrderBy(r => r.Name, StringComparer.Ordinal).ToList());

    public Task<RunSummary?> Get(string name) => Task.FromResult(state.State.Runs.GetValueOrDefault(name));

    public async Task Remove(string name)
    {
        if (state.State.Runs.Remove(name)) await state.WriteStateAsync();
    }
}
