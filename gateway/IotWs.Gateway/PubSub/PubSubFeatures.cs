using System.Text.Json.Nodes;
using IotWs.Gateway.Alerts;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Status;
using IotWs.Gateway.Streams;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.PubSub;

/// <summary>Registers what dashboards consume live: fan-out figures, the switchboard, presence, alerts and streams.</summary>
public static class PubSubFeatures
{
    public static IServiceCollection AddPubSubFeatures(this IServiceCollection services)
    {
        services.AddSingleton<FanOutStats>();
        services.AddSingleton<IStatusContributor, PubSubStatus>();
        services.AddSingleton<Switchboard>();
        services.AddPresence();
        services.AddAlerts();
        services.AddStreams();
        return services;
    }

    public static IEndpointRouteBuilder MapPubSubFeatures(this IEndpointRouteBuilder app) => app.MapAlertsApi();
}

/// <summary>
/// The "pubsub" section of /api/status: publish counts, subscribers per filter, and per-connection outbox
/// figures (queued, dropped) for the connections that subscribe or have dropped anything, worst first.
/// </summary>
internal sealed class PubSubStatus(InProcessTopicBroker broker, ConnectionRegistry registry, FanOutStats stats, IOptions<GatewayOptions> options) : IStatusContributor
{
    private const int MaxListed = 100;

    public string Section => "pubsub";

    public JsonNode? Snapshot()
    {
        var connections = new List<(ClientSession Session, int Filters, long Dropped)>();
        long droppedLive = 0;
        var subscriptions = 0;
        foreach (var session in registry.All)
        {
            var filters = broker.FiltersOf(session).Count;
            var dropped = session.Outbox.Dropped;
            droppedLive += dropped;
            subscriptions += filters;
            if (filters > 0 || dropped > 0) connections.Add((session, filters, dropped));
        }
        var listed = new JsonArray();
        foreach (var (session, filters, dropped) in connections.OrderByDescending(c => c.Dropped).ThenBy(c => c.Session.ClientId, StringComparer.Ordinal).Take(MaxListed))
        {
            listed.Add((JsonNode)new JsonObject
            {
                ["clientId"] = session.ClientId,
                ["clientType"] = session.ClientType,
                ["principal"] = session.Principal,
                ["deviceId"] = session.DeviceId,
                ["subscriptions"] = filters,
                ["queued"] = session.Outbox.Count,
                ["dropped"] = dropped,
            });
        }
        var topics = new JsonArray();
        foreach (var (filter, count) in broker.FilterCounts().Take(MaxListed))
        {
            topics.Add((JsonNode)new JsonObject { ["filter"] = filter, ["subscribers"] = count });
        }
        return new JsonObject
        {
            ["published"] = broker.PublishedCount,
            ["delivered"] = broker.DeliveredCount,
            ["subscriptions"] = subscriptions,
            ["subscribedConnections"] = broker.SubscriberCount,
            ["subscribersByFilter"] = topics,
            ["outbox"] = new JsonObject
            {
                ["capacity"] = options.Value.OutboxCapacity,
                ["dropped"] = droppedLive + stats.DroppedByClosedConnections,
                ["slowConsumersClosed"] = stats.SlowConsumersClosed,
                ["connections"] = listed,
            },
        };
    }
}
