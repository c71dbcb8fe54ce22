using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// Grain state as plain JSON (web defaults, enums as strings, no type names): what a person or a script reads in the state
/// container, and what the hand-written provider before 2026-12 wrote, so migrated state reads unchanged.
/// </summary>
public sealed class GrainStateJson : IGrainStorageSerializer
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = false };
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }

    public BinaryData Serialize<T>(T? input) => BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    public T Deserialize<T>(BinaryData input) => JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)!;
}
