using LvMae.Formats;

namespace LvMae.Formats.Tests;

public sealed class LabelRulesTests
{
    [Theory]
    [InlineData("split=train")]
    [InlineData("split=Pretrain")]
    [InlineData("split=unlabelled")]
    [InlineData("split=unlabeled")]
    [InlineData("split=validation")]
    [InlineData("split=test")]
    [InlineData("recipe=holdout")]   // only the split column has a vocabulary
    public void Accepted_labels_have_no_problem(string label) => Assert.Null(LabelRules.Problem(label));

    [Fact]
    public void An_unknown_split_is_refused_naming_the_value_and_the_accepted_ones()
    {
        var problem = LabelRules.Problem("split=holdout");
        Assert.NotNull(problem);
        Assert.Contains("unknown split 'holdout'", problem);
        Assert.Contains("pretrain", problem);
        Assert.Contains("unlabelled", problem);
        Assert.Contains("val", problem);
    }
}
