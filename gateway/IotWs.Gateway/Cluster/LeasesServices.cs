namespace IotWs.Gateway.Cluster;

/// <summary>Registers the owner lease and the owner's clean-up after dead nodes (no-ops on a single gateway, which owns all work).</summary>
public static class LeasesServices
{
    public static IServiceCollection AddLeases(this IServiceCollection services)
    {
        services.AddSingleton<ClusterLeases>();
        services.AddSingleton<IClusterLeases>(sp => sp.GetRequiredService<ClusterLeases>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterLeases>());
        services.AddHostedService<DeadNodeCleanup>();
        return services;
    }
}
