namespace LvMae.Storage;

/// <summary>
/// Every blob name LvMae uses, in one place (one container, default "lvmae"):
/// <code>
/// videos/&lt;id&gt;/source.&lt;ext&gt;              the ingested file
/// videos/&lt;id&gt;/segments.json             segment boundaries + probe metadata
/// videos/&lt;id&gt;/embeddings/&lt;encoder&gt;.npy  float32 [N, d], encoder name+version in blob metadata
/// index/shard-&lt;n&gt;/head.json, g&lt;gen&gt;.snapshot.jsonl, g&lt;gen&gt;.log.jsonl   the corpus index (snapshot + append-only log)
/// runs/&lt;run&gt;/config.json, checkpoints/&lt;step&gt;.ckpt, metrics.jsonl, plots/*.png, export/...
/// </code>
/// Ids are validated before they reach a name (see <see cref="ValidateId"/>), so no name can escape its prefix.
/// </summary>
public static class BlobLayout
{
    public const string DefaultContainer = "lvmae";

    /// <summary>A value blob metadata can carry (printable ASCII; anything else becomes '_').</summary>
    public static string MetadataValue(string value) => new(value.Select(c => c is >= ' ' and <= '~' ? c : '_').ToArray());

    /// <summary>The metadata of an imported .npy at its embeddings name: whoever stores it (the client or the video grain) writes the same.</summary>
    public static Dictionary<string, string> ImportMetadata(string sha256, string encoderName, string originalName) => new()
    {
        ["sha256"] = sha256,
        ["encoder"] = MetadataValue(encoderName),
        ["encoderversion"] = "imported",
        ["originalname"] = MetadataValue(originalName),
    };

    public static string VideoPrefix(string videoId) => $"videos/{ValidateId(videoId, "video id")}/";
    public static string Source(string videoId, string extension) => $"{VideoPrefix(videoId)}source{NormalizeExtension(extension)}";
    public static string Segments(string videoId) => $"{VideoPrefix(videoId)}segments.json";
    public static string Embeddings(string videoId, string encoder) => $"{VideoPrefix(videoId)}embeddings/{EncoderFileName(encoder)}.npy";


    /// <summary>Grain state lives in its own container beside the data container (Orleans' Azure blob provider).</summary>
    public static string GrainStateContainer(string dataContainer) => dataContainer.Length <= 57 ? $"{dataContainer}-state" : $"{dataContainer[..57].TrimEnd('-')}-state";

    /// <summary>Blob name Orleans' Azure blob provider gives a grain's state: &lt;state name&gt;-&lt;grain type&gt;/&lt;key&gt;.json.</summary>
    public static string GrainStateBlob(string stateName, string grainType, string key) => $"{stateName}-{grainType}/{key}.json";

    public const string IndexPrefix = "index/";
    public static string IndexLayout => $"{IndexPrefix}layout.json";
    public static string IndexShardPrefix(int shard) => $"{IndexPrefix}shard-{shard:D4}/";
    public static string IndexHead(int shard) => $"{IndexShardPrefix(shard)}head.json";
    public static string IndexSnapshot(int shard, long generation) => $"{IndexShardPrefix(shard)}g{generation:D8}.snapshot.jsonl";
    /// <summary>A generation's log, in segments of a bounded number of blocks: segment 0 keeps the name logs had before segments.</summary>
    public static string IndexLog(int shard, long generation, int segment = 0) =>
        segment == 0 ? $"{IndexShardPrefix(shard)}g{generation:D8}.log.jsonl" : $"{IndexShardPrefix(shard)}g{generation:D8}.log{segment:D4}.jsonl";

    public static string RunPrefix(string run) => $"runs/{ValidateId(run, "run name")}/";
    public static string RunConfig(string run) => $"{RunPrefix(run)}config.json";
    public static string RunCheckpoint(string run, long step) => $"{RunPrefix(run)}checkpoints/{step:D9}.ckpt";
    public static string RunCheckpointPrefix(string run) => $"{RunPrefix(run)}checkpoints/";
    public static string RunMetrics(string run) => $"{RunPrefix(run)}metrics.jsonl";
    public static string RunPlot(string run, string name) => $"{RunPrefix(run)}plots/{ValidateId(name, "plot name")}.png";
    public static string RunExport(string run, string file) => $"{RunPrefix(run)}export/{file}";

    /// <summary>Azure's container rule: 3-63 of a-z 0-9 and single hyphens, starting and ending with a letter or digit.</summary>
    public static bool IsValidContainerName(string? name) =>
        name is { Length: >= 3 and <= 63 } && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]) &&
        name.All(c => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c) || c == '-') && !name.Contains("--");

    /// <summary>Ids are 1-128 chars of [A-Za-z0-9._-], not starting with '.', so they are safe in blob names and paths.</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 128 && id[0] != '.' &&
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public static string ValidateId(string? id, string what = "id") =>
        IsValidId(id) ? id! : throw new ArgumentException(
            $"invalid {what} '{id}': use 1-128 characters from A-Z a-z 0-9 . _ - (not starting with '.')");

    /// <summary>"resnet18" -> "resnet18", "model:/x/clip.onnx" -> "model_clip.onnx-&lt;8 hex of the spec's SHA-256&gt;": encoder specs become safe, distinct file names.</summary>
    public static string EncoderFileName(string encoder)
    {
        var name = encoder.Replace(':', '_');
        name = Path.GetFileName(name.Replace('\\', '/'));
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray());
        // Two model files with one file name (model:a/clip.onnx, model:b/clip.onnx) must not share an embeddings blob.
        if (encoder.StartsWith("model:", StringComparison.OrdinalIgnoreCase))
            safe = $"model_{safe}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(encoder)))[..8]}";
        return ValidateId(safe.TrimStart('.'), "encoder name");
    }

    private static string NormalizeExtension(string extension)
    {
        var ext = extension.StartsWith('.') ? extension : "." + extension;
        return ext.Length <= 10 && ext[1..].All(char.IsAsciiLetterOrDigit) ? ext.ToLowerInvariant() : ".bin";
    }
}
