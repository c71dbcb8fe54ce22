namespace LvMae.Grains.Tests;

/// <summary>`lvmae ablate` chooses a configuration on val, never on test.</summary>
public sealed class AblationChoiceTests
{
    private static LvMae.Model.Probing.ProbeSummary Score(double test, double? val) => new("attentive+pos", test, 0.01, null, null, val, 3, 10, 5, 5);

    private static LvMae.Pipeline.Ablation.AblationRow Row(string masking, double test, double? val) =>
        new(new LvMae.Pipeline.Ablation.AblationConfig(masking, false, 1.0, 256), masking, null, null, 1, 1, 0.5, 1, AttentivePositions: Score(test, val));

    [Fact]
    public void The_best_val_score_chooses_and_the_test_score_never_does()
    {
        var rows = new[] { Row("random", test: 0.9, val: 0.6), Row("semantic", test: 0.7, val: 0.8) };
        var chosen = LvMae.Cli.Hosted.Commands.AblateCommand.BestOnVal(rows);
        Assert.StartsWith("chosen on val: semantic", chosen);
        Assert.Contains("no val split", LvMae.Cli.Hosted.Commands.AblateCommand.BestOnVal([Row("random", 0.9, null)]));
    }
}
