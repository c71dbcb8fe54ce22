using LvMae.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
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
    /// <summary>How often each silo pings unfinished runs so one lost with a silo resumes elsewhere.</summary>
    public TimeSpan ResumeSweepInterval { get; set; } = TimeSpan.FromSeconds(30);
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
}

/// <summary>Wiring of the training runs into a silo: options, GPU silo metadata + placement filter, the run resumer.</summary>
public static class TrainingHosting
{
    /// <summary>Idempotent: the first call wins (a test configures it before <see cref="GrainsHosting.AddLvMaeGrains"/> adds the defaults).</summary>
    public static ISiloBuilder AddLvMaeTraining(this ISiloBuilder silo, Action<TrainingOptions>? configure = null)
    {
        if (silo.Services.Any(d => d.ServiceType == typeof(TrainingMarker))) return silo;
        silo.Services.AddSingleton<TrainingMarker>();
        var options = new TrainingOptions();
        // LvMae:Training in appsettings.json / LVMAE__TRAINING__DECLAREGPU=true etc. (the silo host's configuration).
        if (silo.Configuration.GetSection(TrainingOptions.Section) is { } section && section.Exists()) section.Bind(options);
        configure?.Invoke(options);
        var gpu = options.DeclareGpu ?? SafeCudaAvailable();
        silo.UseSiloMetadata(new Dictionary<string, string> { [GpuPlacement.MetadataKey] = gpu ? "true" : "false" });
        silo.Services.AddPlacementFilter<GpuPlacementFilterStrategy, GpuPlacementFilterDirector>(ServiceLifetime.Singleton);
        silo.Services.AddOptions<TrainingOptions>().Configure(o =>
        {
            o.DeclareGpu = gpu;
            o.ResumeSweepInterval = options.ResumeSweepInterval;
            o.StepDelay = options.StepDelay;
            o.CacheBytes = options.CacheBytes;
            o.ReportInterval = options.ReportInterval;
            o.FsqFitVideos = options.FsqFitVideos;
            o.StateWriteAttempts = options.StateWriteAttempts;
            o.StateWriteRetryDelay = options.StateWriteRetryDelay;
        });
        silo.Services.AddSingleton<ProbeBaselineCache>();
        silo.Services.AddHostedService<TrainingResumer>();
        return silo;
    }

    private sealed class TrainingMarker;

    private static bool SafeCudaAvailable()
    {
        try { return TorchSharp.torch.cuda.is_available(); }
        catch (Exception) { return false; } // libtorch not loadable here: no GPU to declare
    }
}
