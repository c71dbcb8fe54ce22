using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace LvMae.Storage;

/// <summary>Registration of <see cref="BlobGrainStorage"/> on a silo.</summary>
public static class BlobGrainStorageExtensions
{
    /// <summary>Adds blob grain storage under <paramref name="name"/> (use it as [PersistentState("x", name)]).</summary>
    public static ISiloBuilder AddLvMaeBlobGrainStorage(this ISiloBuilder builder, string name, Action<BlobGrainStorageOptions> configure)
    {
        builder.Services.AddLvMaeBlobGrainStorage(name, configure);
        return builder;
    }

    /// <summary>Adds blob grain storage as the default provider ("Default") of grains that name none.</summary>
    public static ISiloBuilder AddLvMaeBlobGrainStorageAsDefault(this ISiloBuilder builder, Action<BlobGrainStorageOptions> configure) =>
        builder.AddLvMaeBlobGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);

    public static IServiceCollection AddLvMaeBlobGrainStorage(this IServiceCollection services, string name, Action<BlobGrainStorageOptions> configure)
    {
        var options = new BlobGrainStorageOptions();
        configure(options);
        options.Validate(name);
        return services.AddGrainStorage(name, (sp, n) =>
            new BlobGrainStorage(n, options, sp.GetRequiredService<IActivatorProvider>(), sp.GetRequiredService<ILogger<BlobGrainStorage>>()));
    }
}
