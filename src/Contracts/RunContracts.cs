namespace LvMae.Contracts;

/// <summary>What the run registry knows about one training run (the training issue fills it in).</summary>
[GenerateSerializer, Alias("lvmae.RunSummary")]
public sealed record RunSummary
{
    [Id(0)] public required string Name { get; init; }
    /// <summary>Free text owned by the training grain: Created, Training, Probing, Done, Failed, ...</summary>
    [Id(1)] public string State { get; init; } = "Created";
    [Id(2)] public long Step { get; init; }
    [Id(3)] public DateTimeOffset CreatedAt { get; init; }
    [Id(4)] public DateTimeOffset UpdatedAt { get; init; }
    [Id(5)] public Dictionary<string, double> Metrics { get; init; } = [];
    [Id(6)] public string? Message { get; init; }
    [Id(7)] public string? LatestCheckpoint { get; init; }
    /// <summary>The run's config and its effective schedule (defaults resolved), so `lvmae runs` can show them.</summary>
    [Id(8)] public TrainingRunConfig? Config { get; init; }
    [Id(9)] public TrainingSchedule? Schedule { get; init; }
}

/// <summary>All training runs by name (one grain, key <see cref="Key"/>); training run grains upsert their summary.</summary>
[Alias("lvmae.IRunRegistryGrain")]
public interface IRunRegistryGrain : IGrainWithStringKey
{
    public const string Key = "runs";

    [Alias("Upsert")] Task Upsert(RunSummary run);
    [Alias("List")] Task<IReadOnlyList<RunSummary>> List();
    [Alias("Get")] Task<RunSummary?> Get(string name);
    /// <summary>Forgets a run (its grain deletes its blobs and state first).</summary>
    [Alias("Remove")] Task Remove(string name);
}
