using LvMae.Contracts;

namespace LvMae.Grains;

public sealed class SourceStoreState
{
    public SourceStoreAccess? Access { get; set; }
}

/// <summary>The credentials of one other account's container of sources registered in place (<see cref="ISourceStoreGrain"/>).</summary>
[GrainType("lvmae.source-store")]
public sealed class SourceStoreGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<SourceStoreState> state) : Grain, ISourceStoreGrain
{
    public async Task Set(SourceStoreAccess access)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(access.ContainerUrl);
        if (access.SasToken is null == access.ConnectionString is null)
            throw new ArgumentException($"source store {this.GetPrimaryKeyString()}: give exactly one of a SAS token and a connection string");
        if (state.State.Access == access) return;
        state.State.Access = access;
        await state.WriteStateAsync();
    }

    public Task<SourceStoreAccess?> Get() => Task.FromResult(state.State.Access);
}
