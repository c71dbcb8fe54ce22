using System.Text;

namespace LvMae.Grains.Tests;

/// <summary>The decisions that resolve a write whose response was lost (issue 28), on their own.</summary>
public sealed class UnknownWritesTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void A_stored_state_equal_to_what_was_sent_is_ours()
    {
        Assert.Equal(WriteReadBack.Ours, UnknownWrites.ResolveStateWrite(B("{\"stage\":\"Probed\",\"version\":2}"), B("{\"stage\":\"Probed\",\"version\":2}")));
    }

    [Theory]
    [InlineData("{\"stage\":\"Probed\",\"version\":3}")] // another writer's newer state
    [InlineData("{\"stage\":\"Registered\",\"version\":1}")] // the write never landed
    public void Any_other_stored_state_is_not_ours(string stored)
    {
        Assert.Equal(WriteReadBack.NotOurs, UnknownWrites.ResolveStateWrite(B("{\"stage\":\"Probed\",\"version\":2}"), B(stored)));
    }

    [Fact]
    public void No_stored_record_is_not_ours()
    {
        Assert.Equal(WriteReadBack.NotOurs, UnknownWrites.ResolveStateWrite(B("{}"), null));
    }

    private static string[] L(string ids) => ids.Length == 0 ? [] : ids.Split(',');

    [Theory]
    [InlineData("a,b", "c", "a,b,c")]
    [InlineData("", "c", "c")] // the generation's first commit (If-None-Match)
    [InlineData("a", "c,d", "a,c,d")] // several blocks in one commit
    public void The_committed_list_we_sent_was_appended(string before, string ours, string committed)
    {
        Assert.Equal(AppendReadBack.Appended, UnknownWrites.ResolveCommit(L(before), L(ours), L(committed)));
    }

    [Theory]
    [InlineData("a,b", "c", "a,b,c,x")] // ours, then another writer's
    [InlineData("a,b", "c", "a,b,x,c")] // another writer's, then ours
    public void Our_blocks_among_others_are_durable_but_the_log_moved(string before, string ours, string committed)
    {
        Assert.Equal(AppendReadBack.AppendedAmongOthers, UnknownWrites.ResolveCommit(L(before), L(ours), L(committed)));
    }

    [Theory]
    [InlineData("a,b", "c", "a,b,x")] // another writer committed instead
    [InlineData("a,b", "c", "a,b")] // nothing committed after the list we extended
    [InlineData("a,b", "c,d", "a,b,c")] // only part of ours: not this commit (a commit is all or nothing)
    [InlineData("a,b", "c", "")] // compacted away and recreated empty
    public void Our_blocks_missing_were_not_appended(string before, string ours, string committed)
    {
        Assert.Equal(AppendReadBack.NotAppended, UnknownWrites.ResolveCommit(L(before), L(ours), L(committed)));
    }

    [Fact]
    public void No_log_at_all_is_not_appended()
    {
        Assert.Equal(AppendReadBack.NotAppended, UnknownWrites.ResolveCommit(["a"], ["c"], null));
    }
}
