using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace LvMae.Storage;

/// <summary>Options of <see cref="BlobGrainStorage"/>.</summary>
public sealed class BlobGrainStorageOptions
{
    /// <summary>Azure Storage connection string (Azurite: UseDevelopmentStorage=true or an explicit one with the port).</summary>
    public string? ConnectionString { get; set; }
    /// <summary>Blob container holding the grain state (and, by convention, every other LvMae blob).</summary>
    public string ContainerName { get; set; } = BlobLayout.DefaultContainer;
    /// <summary>Clear deletes the blob (If-Match). When false, clear writes the fresh state instead (keeps the ETag chain).</summary>
    public bool DeleteStateOnClear { get; set; } = true;
    /// <summary>System.Text.Json options for state; null = web defaults (camelCase), enums as strings.</summary>
    public JsonSerializerOptions? JsonOptions { get; set; }
    /// <summary>Alternative to <see cref="ConnectionString"/>: a ready container client (tests, shared clients).</summary>
    public Func<BlobContainerClient>? ContainerFactory { get; set; }

    public void Validate(string name)
    {
        if (ContainerFactory is null && string.IsNullOrWhiteSpace(ConnectionString))
            throw new InvalidOperationException($"blob grain storage '{name}': ConnectionString is not set");
        if (ContainerFactory is null && !IsValidContainerName(ContainerName))
            throw new InvalidOperationException(
                $"blob grain storage '{name}': container name '{ContainerName}' is invalid (3-63 lower-case letters, digits and single hyphens)");
    }

    public static bool IsValidContainerName(string? name) =>
        name is { Length: >= 3 and <= 63 } && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]) &&
        name.All(c => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c) || c == '-') && !name.Contains("--");
}

/// <summary>
/// Orleans grain storage on Azure Blob Storage, as the official Azure provider does it: one blob per state at
/// <see cref="BlobLayout.GrainState"/>; writes are conditional (If-None-Match:* without an ETag, else If-Match);
/// 409 and 412 become <see cref="InconsistentStateException"/>; a missing blob reads as a fresh state with no ETag;
/// clear deletes with If-Match. State is System.Text.Json (no CLR type names in blobs). Errors are never swallowed.
/// </summary>
public sealed class BlobGrainStorage : IGrainStorage
{
    /// <summary>The state name Orleans uses for a grain's default persistent state; other names get their own blob.</summary>
    public const string DefaultStateName = "state";

    private readonly string _name;
    private readonly BlobGrainStorageOptions _options;
    private readonly IActivatorProvider _activators;
    private readonly ILogger _logger;
    private readonly JsonSerializerOptions _json;
    private readonly BlobContainerClient _container;
    private readonly Lazy<Task> _containerReady;

    public BlobGrainStorage(string name, BlobGrainStorageOptions options, IActivatorProvider activators, ILogger<BlobGrainStorage> logger)
    {
        options.Validate(name);
        _name = name;
        _options = options;
        _activators = activators;
        _logger = logger;
        _json = options.JsonOptions ?? DefaultJsonOptions();
        _container = options.ContainerFactory?.Invoke() ?? new BlobContainerClient(options.ConnectionString, options.ContainerName);
        _containerReady = new Lazy<Task>(() => _container.CreateIfNotExistsAsync(), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public static JsonSerializerOptions DefaultJsonOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = false };
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }

    /// <summary>The blob holding one grain's state: grainstate/&lt;grain type&gt;/&lt;key&gt;[.&lt;state name&gt;].json.</summary>
    public static string BlobName(string stateName, GrainId grainId)
    {
        var key = grainId.Key.ToString()!;
        return BlobLayout.GrainState(grainId.Type.ToString()!, stateName == DefaultStateName ? key : $"{key}.{stateName}");
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var blob = _container.GetBlobClient(BlobName(stateName, grainId));
        try
        {
            var response = await blob.DownloadContentAsync().ConfigureAwait(false);
            var content = response.Value.Content;
            var state = content.ToMemory().Length == 0 ? default : JsonSerializer.Deserialize<T>(content.ToMemory().Span, _json);
            grainState.State = state ?? CreateInstance<T>();
            grainState.ETag = response.Value.Details.ETag.ToString();
            grainState.RecordExists = true;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // Missing blob (or container): a fresh state, no ETag.
            grainState.State = CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"grain storage '{_name}': state blob {blob.Name} is not valid JSON for {typeof(T).Name}: {e.Message}", e);
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var blob = _container.GetBlobClient(BlobName(stateName, grainId));
        var data = BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(grainState.State, _json));
        var conditions = grainState.ETag is null
            ? new BlobRequestConditions { IfNoneMatch = ETag.All }
            : new BlobRequestConditions { IfMatch = new ETag(grainState.ETag) };
        var upload = new BlobUploadOptions
        {
            Conditions = conditions,
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
        };
        await _containerReady.Value.ConfigureAwait(false);
        try
        {
            var response = await blob.UploadAsync(data, upload).ConfigureAwait(false);
            grainState.ETag = response.Value.ETag.ToString();
            grainState.RecordExists = true;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw Inconsistent("write", blob.Name, grainState.ETag, e);
        }
        catch (RequestFailedException e) when (e.Status == 404 && grainState.ETag is not null)
        {
            // If-Match on a blob that no longer exists: someone cleared it.
            throw Inconsistent("write", blob.Name, grainState.ETag, e);
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var blob = _container.GetBlobClient(BlobName(stateName, grainId));
        if (!_options.DeleteStateOnClear)
        {
            grainState.State = CreateInstance<T>();
            await WriteStateAsync(stateName, grainId, grainState).ConfigureAwait(false);
            return;
        }
        try
        {
            if (grainState.ETag is null)
            {
                // Nothing we know of exists; if someone created it meanwhile, our view is stale.
                if (await blob.ExistsAsync().ConfigureAwait(false))
                    throw new InconsistentStateException(
                        $"grain storage '{_name}': clear of {blob.Name} with no ETag, but the blob exists (written elsewhere)", "(exists)", "(none)");
            }
            else
            {
                await blob.DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots,
                    new BlobRequestConditions { IfMatch = new ETag(grainState.ETag) }).ConfigureAwait(false);
            }
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            throw Inconsistent("clear", blob.Name, grainState.ETag, e);
        }
        grainState.State = CreateInstance<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private InconsistentStateException Inconsistent(string operation, string blobName, string? etag, RequestFailedException e)
    {
        _logger.LogDebug("grain storage {Name}: {Operation} of {Blob} rejected ({Status} {Code}) with ETag {ETag}",
            _name, operation, blobName, e.Status, e.ErrorCode, etag);
        return new InconsistentStateException(
            $"grain storage '{_name}': {operation} of {blobName} rejected by storage ({e.Status} {e.ErrorCode}): " +
            $"the state changed since it was read (ETag {etag ?? "none"})",
            "(unknown)", etag ?? "(none)", e);
    }

    private T CreateInstance<T>() => _activators.GetActivator<T>().Create();
}
