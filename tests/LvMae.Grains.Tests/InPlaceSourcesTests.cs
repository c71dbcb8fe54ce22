using System.Text;
using LvMae.Cli.Commands;
using LvMae.Client;

namespace LvMae.Grains.Tests;

/// <summary>The pure rules of registering in place: ids from where a blob is, containers from what a user gives, manifests.</summary>
public sealed class InPlaceSourcesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-inplace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_videos_id_comes_from_account_container_and_name_only()
    {
        var id = InPlaceSources.VideoId("acct", "videos", "2026/a.mp4");
        Assert.Matches("^v[0-9a-f]{24}$", id);
        Assert.Equal(id, InPlaceSources.VideoId("ACCT", "videos", "2026/a.mp4")); // account names are case-insensitive
        Assert.NotEqual(id, InPlaceSources.VideoId("acct", "videos", "2026/A.mp4")); // blob names are not
        Assert.NotEqual(id, InPlaceSources.VideoId("acct", "other", "2026/a.mp4"));
        Assert.NotEqual(id, InPlaceSources.VideoId("other", "videos", "2026/a.mp4"));
        // Fixed for good: a re-run, another client or a new version of LvMae gives the same id.
        Assert.Equal("v" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("lvmae-in-place\nacct\nvideos\n2026/a.mp4")))[..24], id);
    }

    [Fact]
    public void A_SAS_URL_gives_the_account_container_and_token_and_a_bad_one_is_refused_without_showing_its_signature()
    {
        var c = InPlaceSources.FromSasUrl("https://acct.blob.core.windows.net/videos?sv=2024-08-04&sr=c&sp=rl&sig=c2VjcmV0");
        Assert.Equal(("acct", "videos", "acct/videos"), (c.Account, c.Container, c.Store));
        Assert.Equal("https://acct.blob.core.windows.net/videos", c.Access!.ContainerUrl);
        Assert.Contains("sig=c2VjcmV0", c.Access.SasToken);
        Assert.Null(c.Access.ConnectionString);

        var azurite = InPlaceSources.FromSasUrl("http://127.0.0.1:10000/devstoreaccount1/corpus?sv=2024-08-04&sr=c&sp=rl&sig=eA%3D%3D");
        Assert.Equal(("devstoreaccount1", "corpus"), (azurite.Account, azurite.Container));

        Assert.Contains("has no SAS token", Assert.Throws<ArgumentException>(() => InPlaceSources.FromSasUrl("https://acct.blob.core.windows.net/videos")).Message);
        var blob = Assert.Throws<ArgumentException>(() => InPlaceSources.FromSasUrl("https://acct.blob.core.windows.net/videos/a.mp4?sv=2024-08-04&sr=b&sp=r&sig=c2VjcmV0")).Message;
        Assert.Contains("names a blob", blob);
        Assert.DoesNotContain("c2VjcmV0", blob);
        Assert.Contains("not a valid container name", Assert.Throws<ArgumentException>(() => InPlaceSources.FromSasUrl("https://acct.blob.core.windows.net/Videos?sv=2024-08-04&sr=c&sp=r&sig=eA%3D%3D")).Message);
        Assert.Contains("not an http(s) URL", Assert.Throws<ArgumentException>(() => InPlaceSources.FromSasUrl("videos")).Message);
    }

    [Fact]
    public void Names_no_source_can_have_are_explained()
    {
        Assert.Null(InPlaceSources.NameProblem("2026/kitchen/a.mp4"));
        Assert.Contains("empty", InPlaceSources.NameProblem(" "));
        Assert.Contains("control character", InPlaceSources.NameProblem("a\tb.mp4"));
        Assert.Contains("folder", InPlaceSources.NameProblem("2026/"));
        Assert.Contains("at most 1,024", InPlaceSources.NameProblem(new string('a', 1025)));
    }

    private string Manifest(string text)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_manifest_gives_blob_names_with_labels_and_refuses_a_name_twice_or_no_name()
    {
        var rows = InPlaceRequest.ReadManifest(Manifest("blob,split,activity\n2026/a.mp4,train,cook\n# a comment\n2026/b.mp4,test,\n"));
        Assert.Equal(["2026/a.mp4", "2026/b.mp4"], rows.Select(r => r.Name));
        Assert.Equal(["split=train", "activity=cook"], rows[0].Labels);
        Assert.Equal(["split=test"], rows[1].Labels);
        Assert.Equal(["x"], InPlaceRequest.ReadManifest(Manifest("2026/c.mp4,x\n")).Single().Labels); // headerless: plain labels

        Assert.Contains("named twice (lines 2, 3)", Assert.Throws<ArgumentException>(() => InPlaceRequest.ReadManifest(Manifest("blob,split\na.mp4,train\na.mp4,test\n"))).Message);
        Assert.Contains("names no blob", Assert.Throws<ArgumentException>(() => InPlaceRequest.ReadManifest(Manifest("blob,split\n"))).Message);
        Assert.Contains("line 2", Assert.Throws<ArgumentException>(() => InPlaceRequest.ReadManifest(Manifest("blob,split\na.mp4\n"))).Message);
        Assert.Contains("file not found", Assert.Throws<ArgumentException>(() => InPlaceRequest.ReadManifest(Path.Combine(_dir, "none.csv"))).Message);
    }
}
