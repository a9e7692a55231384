using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Cluster;

/// <summary>Registers the cluster bus: the MQTT one when Gateway:Cluster:Enabled, else the disabled one (no broker, no timer).</summary>
public static class ClusterServices
{
    public static IServiceCollection AddCluster(this IServiceCollection services)
    {
        services.AddSingleton<IClusterBus>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Cluster;
            var nodeId = ClusterNodeId.Resolve(options, sp.GetRequiredService<IConfiguration>());
            var time = sp.GetRequiredService<TimeProvider>();
            return options.Enabled
                ? new MqttClusterBus(options, nodeId, sp.GetRequiredService<ConnectionRegistry>(), time, sp.GetRequiredService<ILoggerFactory>())
                : new DisabledClusterBus(nodeId, time.GetUtcNow());
        });
        // Registered before the features that publish on it, so it starts first and stops last.
        services.AddHostedService<ClusterBusHost>();
        services.AddSingleton<DeviceOwnership>();
        services.AddSingleton<IDeviceOwners>(sp => sp.GetRequiredService<DeviceOwnership>());
        services.AddHostedService(sp => sp.GetRequiredService<DeviceOwnership>());
        services.AddSingleton<ClusterFanout>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterFanout>());
        services.AddSingleton<Status.IStatusContributor, ClusterStatus>();
        return services;
    }
}

/// <summary>Starts the MQTT bus with the gateway and stops it (retained heartbeat cleared, queue drained) after everything else.</summary>
internal sealed class ClusterBusHost(IClusterBus bus) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        (bus as MqttClusterBus)?.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => bus is MqttClusterBus mqtt ? mqtt.StopAsync() : Task.CompletedTask;
}
