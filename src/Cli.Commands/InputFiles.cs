using LvMae.Client;

namespace LvMae.Cli;

/// <summary>One input of `ingest` / `import-embeddings`: a file to send, or an argument (or file) that cannot be sent and why (naming it).</summary>
public sealed record InputFile(string Path, string? Problem);

/// <summary>
/// The files named by command-line arguments (files, folders searched recursively, globs), with a clear reason for each
/// argument that names none ("clips.mp4/ is a folder ... with no video files") and for each file that cannot be read
/// as one (0 bytes, or a pipe: hashing one would block forever).
/// </summary>
public static class InputFiles
{
    public static IReadOnlyList<InputFile> Expand(IEnumerable<string> targets, IReadOnlySet<string> extensions, string kind)
    {
        var inputs = new List<InputFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            IReadOnlyList<string> found;
            try { found = VideoIngestor.Expand(target, extensions); }
            catch (FileNotFoundException e) { inputs.Add(new InputFile(target, e.Message)); continue; }
            if (found.Count == 0) { inputs.Add(new InputFile(target, NothingFound(target, extensions, kind))); continue; }
            foreach (var file in found)
                if (seen.Add(file))
                    inputs.Add(new InputFile(file, new FileInfo(file).Length == 0 ? $"{file}: empty (0 bytes) or not a regular file (a pipe or device): nothing to send" : null));
        }
        return inputs;
    }

    private static string NothingFound(string target, IReadOnlySet<string> extensions, string kind)
    {
        var wanted = string.Join(" ", extensions.Order(StringComparer.Ordinal));
        if (!Directory.Exists(target)) return $"'{target}' matches no {kind} file ({wanted})";
        var namedLikeOne = extensions.Contains(Path.GetExtension(Path.TrimEndingDirectorySeparator(target)));
        var what = namedLikeOne ? $"is a folder (named like a {kind} file, but not one)" : "is a folder";
        var files = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Take(1001).Count();
        return files == 0
            ? $"'{target}' {what} with no files in it"
            : $"'{target}' {what} with {(files > 1000 ? "over 1000" : files.ToString())} file(s), none a {kind} file ({wanted})";
    }
}
