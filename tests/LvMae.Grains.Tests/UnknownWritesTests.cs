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

    [Fact]
    public void Our_block_as_the_whole_tail_was_appended()
    {
        Assert.Equal(AppendReadBack.Appended, UnknownWrites.ResolveAppend(B("{\"id\":\"a\"}\n{\"id\":\"b\"}\n"), B("{\"id\":\"a\"}\n{\"id\":\"b\"}\n")));
    }

    [Theory]
    [InlineData("{\"id\":\"a\"}\n{\"id\":\"x\"}\n")] // ours, then another writer's
    [InlineData("{\"id\":\"x\"}\n{\"id\":\"a\"}\n")] // another writer's, then ours
    public void Our_block_among_other_lines_is_durable_but_the_log_moved(string tail)
    {
        Assert.Equal(AppendReadBack.AppendedAmongOthers, UnknownWrites.ResolveAppend(B("{\"id\":\"a\"}\n"), B(tail)));
    }

    [Theory]
    [InlineData("{\"id\":\"x\"}\n")] // another writer appended instead
    [InlineData("")] // nothing after the expected position
    [InlineData("{\"id\":\"xa\"}\n{\"id\":\"a\"")] // the bytes appear, but not as whole lines
    public void Our_block_missing_was_not_appended(string tail)
    {
        Assert.Equal(AppendReadBack.NotAppended, UnknownWrites.ResolveAppend(B("{\"id\":\"a\"}\n"), B(tail)));
    }
}
