namespace LvMae.Grains.Tests;

[GenerateSerializer, Alias("LvMae.Grains.Tests.CounterState")]
public sealed class CounterState
{
    [Id(0)] public int Value { get; set; }
    [Id(1)] public List<string> Notes { get; set; } = [];
}

[Alias("LvMae.Grains.Tests.ICounterGrain")]
public interface ICounterGrain : IGrainWithStringKey
{
    Task<int> Add(int amount, string note);
    Task<CounterState> Get();
    Task<string?> ETag();
    Task<bool> RecordExists();
    Task Clear();
    Task Reload();
}

[GrainType("test-counter")]
public sealed class CounterGrain([PersistentState("state")] IPersistentState<CounterState> state) : Grain, ICounterGrain
{
    public async Task<int> Add(int amount, string note)
    {
        state.State.Value += amount;
        state.State.Notes.Add(note);
        await state.WriteStateAsync();
        return state.State.Value;
    }

    public Task<CounterState> Get() => Task.FromResult(state.State);
    public Task<string?> ETag() => Task.FromResult(state.Etag);
    public Task<bool> RecordExists() => Task.FromResult(state.RecordExists);
    public Task Clear() => state.ClearStateAsync();
    public Task Reload() => state.ReadStateAsync();
}
