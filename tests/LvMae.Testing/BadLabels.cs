namespace LvMae.Testing;

/// <summary>Labels CSVs for the bad-input corpus: the ones `--labels` must refuse (naming the file and line), and odd ones it must read.</summary>
public static class BadLabels
{
    /// <summary>Each broken CSV's text and the part of the error that names its problem.</summary>
    public static IReadOnlyList<(string Name, string Text, string Expected)> Refused { get; } =
    [
        ("missing column", "videoId,activity,split\nv1,a,train\nv2,b\n", "line 3: 2 cells, the header has 3"),
        ("extra column", "file,label\na.mp4,x,y\n", "line 2: 3 cells, the header has 2"),
        ("duplicate id", "file,label\na.mp4,x\nb.mp4,y\n\na.mp4,z\n", "line 5: 'a.mp4' is already labelled on line 2"),
        ("duplicate headerless", "a.mp4,x\na.mp4,y\n", "line 2: 'a.mp4' is already labelled on line 1"),
        ("duplicate column", "file,label,label\na.mp4,x,y\n", "line 1: column 'label' appears twice in the header"),
        ("10 MB label", "file,note\na.mp4," + new string('x', 10 << 20) + "\n", "line 2: a label of 10485765 characters (at most 256)"),
        ("line break in a label", "file,note\na.mp4,\"two\nlines\"\n", "line 2: a label with a control character (U+000A)"),
        ("NUL in a label", "a.mp4,x\0y\n", "line 1: a label with a control character (U+0000)"),
        ("stray quote", "file,label\na.mp4,x\"y\n", "line 2: a quote inside an unquoted field"),
        ("unterminated quote", "file,label\na.mp4,\"x\nb.mp4,y\n", "line 2: a quoted field that is never closed"),
        ("no file name", "file,label\n,x\n", "line 2: the first cell (the file) is empty"),
        ("empty file", "", "the labels CSV is empty"),
        ("only comments", "# nothing here\n", "the labels CSV is empty"),
    ];

    /// <summary>
    /// Odd but valid CSVs for one video <paramref name="file"/> in <paramref name="folder"/>, the CSV written in a sibling
    /// folder: quoted commas with a byte order mark and CRLF, unicode, and a name reached through `../`. Each gives the
    /// video the label "ok".
    /// </summary>
    public static IReadOnlyList<(string Name, string Text, bool Bom)> Accepted(string folder, string file) =>
    [
        ("quoted commas, BOM, CRLF", $"\"file\",note,label\r\n\"{file}\",\"a, b\",\"ok\"\r\n", true),
        ("unicode labels", $"file,note,label\n{file},ünïcode 日本,ok\n", false),
        ("../ in the name", $"file,label\n../{Path.GetFileName(folder)}/{file},ok\n", false),
    ];
}
