using CliShared = LvMae.Cli.Cli;

namespace LvMae.Grains.Tests;

/// <summary>--labels parsing: headed CSVs give named column=value labels, headerless ones positional labels.</summary>
public class CliLabelsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-labels-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Csv(string text)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Headed_csv_gives_named_labels_matched_by_file_name_without_extension()
    {
        var labelOf = CliShared.Labels(Csv("videoId,activity,first_step,split\nsyn0001,a2,fractal,train\nsyn0002,a0,bars,test\n"));

        Assert.Equal(["activity=a2", "first_step=fractal", "split=train"], labelOf("/data/corpus/syn0001.mp4"));
        Assert.Equal(["activity=a0", "first_step=bars", "split=test"], labelOf("syn0002.mp4"));
        Assert.Empty(labelOf("syn0003.mp4"));
    }

    [Fact]
    public void Repeated_values_in_different_columns_are_kept_apart()
    {
        var labelOf = CliShared.Labels(Csv("file,left,right\nclip.mp4,x,x\n"));
        Assert.Equal(["left=x", "right=x"], labelOf("clip.mp4"));
    }

    [Fact]
    public void A_column_named_label_keeps_plain_tags()
    {
        var labelOf = CliShared.Labels(Csv("file,label,scene\na.mp4,alpha,indoor\n"));
        Assert.Equal(["alpha", "scene=indoor"], labelOf("a.mp4"));
        // Values that already name their column are not prefixed twice.
        Assert.Equal(["cls=a"], CliShared.Labels(Csv("id,cls\nv1,cls=a\n"))("v1.npy"));
    }

    [Fact]
    public void Headerless_csv_gives_positional_labels_and_a_list_applies_to_every_input()
    {
        Assert.Equal(["cooking", "indoor"], CliShared.Labels(Csv("clip.mp4,cooking,indoor\n"))("/x/clip.mp4"));
        Assert.Equal(["a", "b"], CliShared.Labels("a, b")("anything.mp4"));
        Assert.Empty(CliShared.Labels(null)("anything.mp4"));
    }
}
