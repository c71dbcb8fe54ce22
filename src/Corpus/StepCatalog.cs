using System.Globalization;

namespace LvMae.Corpus;

/// <summary>
/// One visual "step" type: an ffmpeg lavfi source (plus a fixed tint where the source is grey),
/// chosen so that step types differ in structure and palette, not only in hue, and stay recognisable
/// under the per-video hue/saturation/brightness jitter and noise.
/// </summary>
/// <param name="Name">Stable identifier used in labels and timelines.</param>
/// <param name="Caption">A one-line description, usable as the ground-truth caption of a segment of this step
/// (the caption database for retrieval-based interpretability).</param>
/// <param name="Source">The lavfi source it is rendered from (for documentation).</param>
public sealed record StepType(string Name, string Caption, string Source);

/// <summary>The step types the generator can render. Specs pick their core and distractor steps from here.</summary>
public static class StepCatalog
{
    /// <summary>All renderable step types, in catalogue order.</summary>
    public static IReadOnlyList<StepType> All { get; } =
    [
        new("bars", "SMPTE colour bars, a static broadcast test card", "smptebars"),
        new("fractal", "a slowly zooming Mandelbrot fractal on a pink background", "mandelbrot"),
        new("life", "Conway's game of life: green cells swarming on a dark blue field", "life"),
        new("automaton", "an orange and black cellular-automaton texture scrolling downwards", "cellauto"),
        new("testcard", "a moving test pattern with a running clock and a colour wheel", "testsrc2"),
        new("gradient", "a slowly rotating pink, blue and yellow colour gradient", "gradients"),
        new("ramps", "red, green and blue intensity ramps in three horizontal bands", "rgbtestsrc"),
        new("waves", "colourful diagonal interference waves drifting across the frame", "color+geq"),
        new("carpet", "a black and white Sierpinski carpet fractal", "sierpinski"),
        new("spectrum", "a static rainbow colour spectrum fading to black", "colorspectrum"),
    ];

    /// <summary>The step type with this name; throws for an unknown name.</summary>
    public static StepType Get(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"Unknown step type '{name}'. Known: {string.Join(", ", All.Select(s => s.Name))}.", nameof(name));

    /// <summary>
    /// The filter chain (a source, no inputs) that renders <paramref name="frames"/> frames of a step at
    /// the given size and rate, in yuv444p with square pixels so that steps concatenate.
    /// <paramref name="sourceSeed"/> varies the stochastic sources (life, cellauto, gradients, sierpinski)
    /// and small parameter jitter between occurrences.
    /// </summary>
    internal static string SourceChain(string step, int width, int height, int fps, int frames, int sourceSeed)
    {
        string s = $"s={width}x{height}:r={fps}";
        var jitter = new DeterministicRandom(unchecked((ulong)sourceSeed * 0x2545F4914F6CDD1DUL + 17));
        string src = step switch
        {
            "bars" => $"smptebars={s}",
            // Slow zoom (about 1.4x over a minute) so that the step looks the same throughout.
            "fractal" => $"mandelbrot={s}:start_scale={F(jitter.NextDouble(2.7, 3.3))}:end_scale={F(jitter.NextDouble(1.8, 2.2))}"
                         + $":end_pts={fps * 75}",
            "life" => $"life={s}:mold=10:ratio={F(jitter.NextDouble(0.25, 0.4))}:seed={sourceSeed}"
                      + ":life_color=0x00ff80:death_color=0x400000:mold_color=0x202080",
            "automaton" => $"cellauto={s}:rule=110:seed={sourceSeed}:ratio={F(jitter.NextDouble(0.5, 0.7))},"
                           + "format=rgb24,colorchannelmixer=rr=1:gg=0.55:bb=0.15",
            "testcard" => $"testsrc2={s}",
            "gradient" => $"gradients={s}:c0=0xff4080:c1=0x40c0ff:c2=0xffff60:n=3:seed={sourceSeed}"
                          + $":speed={F(jitter.NextDouble(0.01, 0.02))}",
            "ramps" => $"rgbtestsrc={s}",
            "waves" => $"color=c=black:{s},format=yuv444p,"
                       + $"geq=lum='128+90*sin(X/5+Y/7+T*{F(jitter.NextDouble(2.5, 3.5))})'"
                       + ":cb='128+60*cos(Y/9-T*2)':cr='128+60*sin(X/11+T)'",
            "carpet" => $"sierpinski={s}:seed={sourceSeed}:jump={jitter.NextInclusive(50, 150)}:type=carpet",
            "spectrum" => $"colorspectrum={s}",
            _ => throw new ArgumentException($"Unknown step type '{step}'.", nameof(step)),
        };
        return $"{src},trim=end_frame={frames},setpts=PTS-STARTPTS,format=yuv444p,setsar=1";
    }

    internal static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
