using LvMae.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace LvMae.Grains.Training;

/// <summary>Per-silo training settings (configuration section LvMae:Training).</summary>
public sealed class TrainingOptions
{
    public const string Section = "LvMae:Training";

    /// <summary>Whether this silo declares a GPU to the cluster (silo metadata <see cref="GpuPlacement.MetadataKey"/>);
    /// null = ask libtorch whether CUDA is available.</summary>
    public bool? DeclareGpu { get; set; }
    /// <summary>Period of the reminder a training run keeps while it trains: a run lost with its silo resumes on a live one
    /// at its next tick (after the cluster has declared the silo dead). At least Orleans' <c>ReminderOptions.MinimumReminderPeriod</c>.</summary>
    public TimeSpan ResumeReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>Pause after every step (throttle on a shared machine; tests use it to stop a run mid-way).</summary>
    public TimeSpan StepDelay { get; set; } = TimeSpan.Zero;
    /// <summary>Byte budget of the per-run embedding cache (every epoch re-reads the same blobs).</summary>
    public long CacheBytes { get; set; } = 1L << 30;
    /// <summary>How often progress is written to the run registry and metrics.jsonl at most.</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>FSQ-target runs fit their quantizer on the segments of this many embedded videos (at most).</summary>
    public int FsqFitVideos { get; set; } = 512;
    /// <summary>Tries of one state write (storage blips must not end a run); the delay doubles after each failure
    /// (6 tries from 0.5 s = about 16 s in all).</summary>
    public int StateWriteAttempts { get; set; } = 6;
    public TimeSpan StateWriteRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public void CopyTo(TrainingOptions o)
    {
        o.DeclareGpu = DeclareGpu;
        o.ResumeReminderPeriod = ResumeReminderPeriod;
        o.StepDelay = StepDelay;
        o.CacheBytes = CacheBytes;
        o.ReportInterval = ReportInterval;
        o.FsqFitVideos = FsqFitVideos;
        o.StateWriteAttempts = StateWriteAttempts;
        o.StateWriteRetryDelay = StateWriteRetryDelay;
    }
}

/// <summary>Refuses to start a silo whose runs could not register their resume reminder.</summary>
internal sealed class TrainingOptionsValidator(IOptions<TrainingOptions> training, IOptions<ReminderOptions> reminders) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        var (period, minimum) = (training.Value.ResumeReminderPeriod, reminders.Value.MinimumReminderPeriod);
        if (period < minimum)
            throw new OrleansConfigurationException($"LvMae:Training:ResumeReminderPeriod ({period}) is below the reminder minimum of this cluster (Orleans ReminderOptions.MinimumReminderPeriod, {minimum})");
    }
}

/// <summary>Wiring of the training runs into a silo: options (checked against the reminder minimum), GPU silo metadata + placement filter.</summary>
public static class TrainingHosting
{
    /// <summary>Idempotent: the first call wins (a test configures it before <see cref="GrainsHosting.AddLvMaeGrains"/> adds the defaults).</summary>
    public static ISiloBuilder AddLvMaeTraining(this ISiloBuilder silo, Action<TrainingOptions>? configure = null)
    {
        if (silo.Services.Any(d => d.ServiceType == typeof(TrainingMarker))) return silo;
        silo.Services.AddSingleton<TrainingMarker>();
        var options = new TrainingOptions();
        configure?.Invoke(options); // the silo host passes LvMae:Training (appsettings.json, LVMAE__Training__... variables)
        var gpu = options.DeclareGpu ?? SafeCudaAvailable();
        silo.UseSiloMetadata(new Dictionary<string, string> { [GpuPlacement.MetadataKey] = gpu ? "true" : "false" });
        silo.Services.AddPlacementFilter<GpuPlacementFilterStrategy, GpuPlacementFilterDirector>(ServiceLifetime.Singleton);
        options.DeclareGpu = gpu;
        silo.Services.AddOptions<TrainingOptions>().Configure(options.CopyTo);
        silo.Services.AddSingleton<IConfigurationValidator, TrainingOptionsValidator>();
        silo.Services.AddSingleton<ProbeBaselineCache>();
        return silo;
    }

    private sealed class TrainingMarker;

    private static bool SafeCudaAvailable()
    {
        try { return TorchSharp.torch.cuda.is_available(); }
        catch (Exception) { return false; } // libtorch not loadable here: no GPU to declare
    }
}
