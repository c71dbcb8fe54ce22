using System.Text;
using LvMae.Cli;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>--labels parsing: headed CSVs give named column=value labels, headerless ones positional labels; every bad CSV is refused naming its file and line.</summary>
public class CliLabelsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-labels-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Csv(string text, bool bom = false, string? name = null)
    {
        var path = Path.Combine(_dir, name ?? $"{Guid.NewGuid():N}.csv");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text, new UTF8Encoding(bom));
        return path;
    }

    [Fact]
    public void Headed_csv_gives_named_labels_matched_by_file_name_without_extension()
    {
        var labels = InputLabels.Parse(Csv("videoId,activity,first_step,split\nsyn0001,a2,fractal,train\nsyn0002,a0,bars,test\n"));

        Assert.Equal(["activity=a2", "first_step=fractal", "split=train"], labels.For("/data/corpus/syn0001.mp4"));
        Assert.Equal(["activity=a0", "first_step=bars", "split=test"], labels.For("syn0002.mp4"));
        Assert.Empty(labels.For("syn0003.mp4"));
    }

    [Fact]
    public void Pretrain_splits_are_accepted_and_an_unknown_split_is_refused_with_its_line_and_the_accepted_values()
    {
        var labels = InputLabels.Parse(Csv("videoId,recipe,split\nv1,,pretrain\nv2,r1,Unlabelled\nv3,r2,train\n"));
        Assert.Equal(["split=pretrain"], labels.For("v1.npy"));   // an empty cell is no label
        Assert.Equal(["recipe=r1", "split=Unlabelled"], labels.For("v2.npy"));
        var error = Assert.Throws<ArgumentException>(() => InputLabels.Parse(Csv("videoId,recipe,split\nv1,r1,train\nv2,r1,holdout\n", name: "bad.csv")));
        Assert.Contains("bad.csv line 3", error.Message);
        Assert.Contains("unknown split 'holdout'", error.Message);
        Assert.Contains("unlabelled", error.Message);
    }

    [Fact]
    public void Repeated_values_in_different_columns_are_kept_apart()
    {
        Assert.Equal(["left=x", "right=x"], InputLabels.Parse(Csv("file,left,right\nclip.mp4,x,x\n")).For("clip.mp4"));
    }

    [Fact]
    public void A_column_named_label_keeps_plain_tags()
    {
        Assert.Equal(["alpha", "scene=indoor"], InputLabels.Parse(Csv("file,label,scene\na.mp4,alpha,indoor\n")).For("a.mp4"));
        // Values that already name their column are not prefixed twice.
        Assert.Equal(["cls=a"], InputLabels.Parse(Csv("id,cls\nv1,cls=a\n")).For("v1.npy"));
    }

    [Fact]
    public void Headerless_csv_gives_positional_labels_and_a_list_applies_to_every_input()
    {
        Assert.Equal(["cooking", "indoor"], InputLabels.Parse(Csv("# file, labels\nclip.mp4,cooking,indoor\n")).For("/x/clip.mp4"));
        Assert.Equal(["a", "b"], InputLabels.Parse("a, b").For("anything.mp4"));
        Assert.Empty(InputLabels.Parse(null).For("anything.mp4"));
    }

    [Fact]
    public void Quoted_commas_a_byte_order_mark_CRLF_and_unicode_names_all_read()
    {
        var labels = InputLabels.Parse(Csv("\"file\",note,label\r\n\"clip, final.mp4\",\"a, b\",\"x\"\"y\"\r\nçlip-ü.mp4,ünï,日本\r\n", bom: true));
        Assert.Equal(["note=a, b", "x\"y"], labels.For("/videos/clip, final.mp4"));
        Assert.Equal(["note=ünï", "日本"], labels.For("/videos/çlip-ü.mp4"));
    }

    [Fact]
    public void Names_with_a_folder_are_taken_relative_to_the_csv_and_unmatched_rows_are_reported()
    {
        var csv = Csv("file,label\n../up.mp4,parent\nhere/a.mp4,child\nghost.mp4,none\n", name: Path.Combine("sub", "labels.csv"));
        var labels = InputLabels.Parse(csv);
        var up = Path.Combine(_dir, "up.mp4");
        var child = Path.Combine(_dir, "sub", "here", "a.mp4");
        Assert.Equal(["parent"], labels.For(up));
        Assert.Empty(labels.For(Path.Combine(_dir, "sub", "up.mp4"))); // same name, another folder: not that row
        Assert.Equal(["child"], labels.For(child));
        var unmatched = labels.Unmatched([up, child]);
        Assert.NotNull(unmatched);
        Assert.Contains(csv, unmatched);
        Assert.Contains("1 row(s) match no input: line 4 'ghost.mp4'", unmatched);
        Assert.Null(labels.Unmatched([up, child, Path.Combine(_dir, "ghost.mp4")]));
    }

    public static TheoryData<string, string, string> BadCsvs()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (name, text, expected) in BadLabels.Refused) data.Add(name, text, expected);
        return data;
    }

    [Theory]
    [MemberData(nameof(BadCsvs))]
    public void Each_bad_csv_is_refused_naming_the_file_and_the_line(string name, string text, string expected)
    {
        var csv = Csv(text, name: name.Replace(' ', '-') + ".csv");
        var error = Assert.Throws<ArgumentException>(() => InputLabels.Parse(csv));
        Assert.StartsWith(csv, error.Message);
        Assert.Contains(expected, error.Message);
        Assert.True(error.Message.Length < 400, "a 10 MB value is not repeated in the message");
    }

    [Fact]
    public void A_labels_option_that_names_a_folder_or_a_missing_csv_is_not_taken_for_a_label_list()
    {
        Assert.Contains("is a directory, not a CSV file", Assert.Throws<ArgumentException>(() => InputLabels.Parse(_dir)).Message);
        Assert.Contains("labels file not found", Assert.Throws<ArgumentException>(() => InputLabels.Parse(Path.Combine(_dir, "nope.csv"))).Message);
        Assert.Contains("control character", Assert.Throws<ArgumentException>(() => InputLabels.Parse("a,b\u0007")).Message);
    }
}
