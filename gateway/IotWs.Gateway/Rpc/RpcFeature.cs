using System.Text.Json.Nodes;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Status;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Rpc;

/// <summary>Registers gateway-to-device calls, rpc_call methods, the audit log and its API.</summary>
public static class RpcFeature
{
    public static IServiceCollection AddRpc(this IServiceCollection services)
    {
        services.AddOptions<RpcOptions>()
            .BindConfiguration(RpcOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RpcOptions>, RpcOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<RpcOptions>, RpcOptionsValidator>();

        services.AddSingleton<LocalDeviceRequests>();
        // A cluster node routes a request to the node holding the device; a single gateway only has its own connections.
        services.AddSingleton<RoutedDeviceRequests>();
        services.AddSingleton<IDeviceRequestChannel>(sp => sp.GetRequiredService<IClusterBus>().IsEnabled
            ? sp.GetRequiredService<RoutedDeviceRequests>()
            : sp.GetRequiredService<LocalDeviceRequests>());
        services.AddHostedService(sp => sp.GetRequiredService<RoutedDeviceRequests>());
        services.AddSingleton<IMessageHandler, DeviceResponseHandler>();
        services.AddSingleton<DeviceCalls>();
        services.AddHostedService<RpcHousekeeping>();

        services.AddSingleton<IMessageHandler, RpcCallHandler>();
        services.AddSingleton<IRpcMethod, CalculateAverageMethod>();
        services.AddSingleton<IRpcMethod, DeviceCallMethod>();
        services.AddSingleton<IStatusContributor, RpcStatus>();
        return services;
    }
}

/// <summary>The "rpc" section of /api/status: requests awaiting a device's answer and persistent calls waiting for their device.</summary>
internal sealed class RpcStatus(IDeviceRequestChannel channel, DeviceCalls calls) : IStatusContributor
{
    public string Section => "rpc";

    public JsonNode? Snapshot() => new JsonObject
    {
        ["pendingRequests"] = channel.PendingCount,
        ["queuedCalls"] = calls.QueuedCount,
    };
}
