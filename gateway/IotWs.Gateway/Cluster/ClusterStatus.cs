using System.Text.Json.Nodes;
using IotWs.Gateway.Status;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// The "cluster" section of /api/status (only when the cluster is enabled): this node, every known node with its
/// heartbeat and device count, which node holds each connected device, and the bus link's counters.
/// </summary>
internal sealed class ClusterStatus(IClusterBus bus, DeviceOwnership owners) : IStatusContributor
{
    public string Section => "cluster";

    public JsonNode? Snapshot()
    {
        if (bus is not MqttClusterBus mqtt) return null;
        var counts = mqtt.DeviceCounts;
        var nodes = new JsonArray();
        foreach (var n in mqtt.Nodes)
        {
            nodes.Add((JsonNode)new JsonObject
            {
                ["nodeId"] = n.NodeId,
                ["startedAt"] = WireJson.Time(n.StartedAt),
                ["lastHeartbeat"] = WireJson.Time(n.LastHeartbeat),
                ["alive"] = n.Alive,
                ["devices"] = counts.GetValueOrDefault(n.NodeId),
                ["self"] = n.NodeId == mqtt.NodeId,
            });
        }
        var devices = new JsonObject();
        foreach (var (device, node) in owners.All()) devices[device] = node;
        var link = mqtt.LinkStatus;
        return new JsonObject
        {
            ["nodeId"] = mqtt.NodeId,
            ["nodes"] = nodes,
            ["devices"] = devices,
            ["bus"] = new JsonObject
            {
                ["connected"] = link.IsConnected,
                ["protocolVersion"] = link.ProtocolVersion,
                ["queued"] = link.Queued,
                ["dropped"] = link.Dropped,
                ["published"] = link.Published,
                ["received"] = mqtt.Received,
                ["reconnects"] = link.Reconnects,
                ["lastError"] = link.LastError,
            },
        };
    }
}
