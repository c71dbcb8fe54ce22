using Spectre.Console;

namespace LvMae.Demo;

/// <summary>A progress bar of one phase.</summary>
public interface IDemoBar
{
    double Value { get; set; }
    double MaxValue { get; set; }
    string Description { get; set; }
}

/// <summary>Where the demo shows its progress: Spectre.Console bars on a terminal, nothing in tests.</summary>
public interface IDemoConsole
{
    /// <summary>Runs one phase with its progress bars (added by <paramref name="body"/> through the factory).</summary>
    Task<T> PhaseAsync<T>(string title, Func<Func<string, double, IDemoBar>, Task<T>> body);
    void Info(string text);
}

/// <summary>Prints nothing (tests); keeps the lines it was told for inspection.</summary>
public sealed class SilentDemoConsole : IDemoConsole
{
    private readonly List<string> _lines = [];
    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    public Task<T> PhaseAsync<T>(string title, Func<Func<string, double, IDemoBar>, Task<T>> body)
    {
        Info($"== {title}");
        return body((name, max) => new Bar { Description = name, MaxValue = max });
    }

    public void Info(string text) { lock (_lines) _lines.Add(text); }

    private sealed class Bar : IDemoBar
    {
        public double Value { get; set; }
        public double MaxValue { get; set; }
        public string Description { get; set; } = "";
    }
}

/// <summary>Spectre.Console progress bars, one group per phase.</summary>
public sealed class SpectreDemoConsole(IAnsiConsole? console = null) : IDemoConsole
{
    private readonly IAnsiConsole _console = console ?? AnsiConsole.Console;

    public async Task<T> PhaseAsync<T>(string title, Func<Func<string, double, IDemoBar>, Task<T>> body)
    {
        _console.MarkupLine($"[bold blue]== {Markup.Escape(title)}[/]");
        T result = default!;
        await _console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                result = await body((name, max) => new Bar(ctx.AddTask(Markup.Escape(name), maxValue: Math.Max(max, 1e-9))));
            });
        return result;
    }

    public void Info(string text) => _console.MarkupLine(Markup.Escape(text));

    private sealed class Bar(ProgressTask task) : IDemoBar
    {
        public double Value { get => task.Value; set => task.Value = value; }
        public double MaxValue { get => task.MaxValue; set => task.MaxValue = Math.Max(value, 1e-9); }
        public string Description { get => task.Description; set => task.Description = Markup.Escape(value); }
    }
}
