using System.Text.Json.Nodes;
using IotWs.Gateway.Status;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Devices;

/// <summary>Registers the presence tracker in place of the connection-only default.</summary>
public static class PresenceServices
{
    public static IServiceCollection AddPresence(this IServiceCollection services)
    {
        services.AddOptions<PresenceOptions>().BindConfiguration(PresenceOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PresenceOptions>, PresenceOptionsValidator>();
        services.AddSingleton<PresenceTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<PresenceTracker>());
        services.Replace(ServiceDescriptor.Singleton<IDevicePresence>(sp => sp.GetRequiredService<PresenceTracker>()));
        services.AddSingleton<IStatusContributor, PresenceStatus>();
        return services;
    }
}

/// <summary>The "presence" section of /api/status: devices by state.</summary>
internal sealed class PresenceStatus(PresenceTracker tracker) : IStatusContributor
{
    public string Section => "presence";

    public JsonNode? Snapshot()
    {
        var counts = new JsonObject();
        foreach (var (status, count) in tracker.CountByStatus()) counts[status] = count;
        return counts;
    }
}
