using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace LvMae.Grains.Training;

/// <summary>Silo metadata that marks GPU silos (published by <see cref="TrainingHosting.AddLvMaeTraining"/>).</summary>
public static class GpuPlacement
{
    public const string MetadataKey = "lvmae.gpu";
}

/// <summary>Place on silos that declare a GPU when there are any, else anywhere.</summary>
public sealed class GpuPlacementFilterStrategy() : PlacementFilterStrategy(order: 0);

/// <summary>Marks a grain class for <see cref="GpuPlacementFilterStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PreferGpuSiloAttribute() : PlacementFilterAttribute(new GpuPlacementFilterStrategy());

/// <summary>Keeps the candidate silos whose metadata says <c>lvmae.gpu=true</c>; all of them when none does.</summary>
public sealed class GpuPlacementFilterDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var all = silos.ToList();
        var gpu = all.Where(IsGpu).ToList();
        return gpu.Count > 0 ? gpu : all;
    }

    public bool IsGpu(SiloAddress silo) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(GpuPlacement.MetadataKey, out var value) &&
        string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);
}
