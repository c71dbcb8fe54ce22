namespace LvMae.Runs;

/// <summary>The plots a run keeps in storage (runs/&lt;run&gt;/plots/&lt;name&gt;.png, <see cref="LvMae.Storage.BlobLayout.RunPlot"/>);
/// RunPlotter in src/Grains/Training draws them, `lvmae runs show --plot` and the web console fetch them.</summary>
public static class RunPlots
{
    /// <summary>Loss and probe accuracy against step.</summary>
    public const string Training = "training";
}
