namespace IotWs.Gateway.Cluster;

/// <summary>Registers the owner lease (a no-op on a single gateway, which owns all work).</summary>
public static class LeasesServices
{
    public static IServiceCollection AddLeases(this IServiceCollection services)
    {
        services.AddSingleton(sp => ClusterLeaseSettings.From(sp.GetRequiredService<IConfiguration>()));
        services.AddSingleton<ClusterLeases>();
        services.AddSingleton<IClusterLeases>(sp => sp.GetRequiredService<ClusterLeases>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterLeases>());
        return services;
    }
}
