namespace LvMae.Contracts;

/// <summary>
/// How the silos reach a container of another storage account that holds sources registered in place: the container's URL
/// and either a SAS token (recommended: read + list, scoped to the container) or a connection string. Kept in the cluster's
/// grain state, so whoever can read that state can read the container too; never shown by status, API or console.
/// </summary>
[GenerateSerializer, Alias("lvmae.SourceStoreAccess")]
public sealed record SourceStoreAccess
{
    /// <summary>The container's URL without query ("https://account.blob.core.windows.net/videos").</summary>
    [Id(0)] public required string ContainerUrl { get; init; }
    /// <summary>A SAS token (the query of a SAS URL, without '?'), or null when <see cref="ConnectionString"/> is used.</summary>
    [Id(1)] public string? SasToken { get; init; }
    [Id(2)] public string? ConnectionString { get; init; }
    [Id(3)] public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>
/// One source store, keyed "account/container" (<see cref="BlobSource.Store"/>): the credentials the silos use to read the
/// sources registered in place from that container. `lvmae ingest --source-url/--source-connection-string` sets it; setting
/// it again (a new SAS) is how a credential is rotated.
/// </summary>
[Alias("lvmae.ISourceStoreGrain")]
public interface ISourceStoreGrain : IGrainWithStringKey
{
    [Alias("Set")] Task Set(SourceStoreAccess access);
    /// <summary>Null when no access was ever set under this key.</summary>
    [Alias("Get")] Task<SourceStoreAccess?> Get();
}
