namespace IotWs.Gateway.Cluster;

/// <summary>
/// The link between the gateways of a cluster: small messages on topics under "iotws-cluster/" of one MQTT broker,
/// and who else is there. On a single Pi it is disabled: publishes are dropped and no subscription fires.
/// </summary>
public interface IClusterBus
{
    string NodeId { get; }

    /// <summary>False on a single Pi: publishes are dropped, no subscriptions fire.</summary>
    bool IsEnabled { get; }

    /// <summary>Queues a message on "iotws-cluster/" + <paramref name="subtopic"/>; never waits for the broker.</summary>
    Task PublishAsync(string subtopic, ReadOnlyMemory<byte> payload, bool retain = false, CancellationToken ct = default);

    /// <summary>
    /// Calls handler(subtopic, payload) for each message whose subtopic matches the MQTT filter (own messages included
    /// only on a broker without MQTT 5's no-local). Handlers run on the bus's receive loop, one message at a time: keep
    /// them short and never block.
    /// </summary>
    IDisposable Subscribe(string subtopicFilter, Action<string, ReadOnlyMemory<byte>> handler);

    /// <summary>Known nodes, this one included.</summary>
    IReadOnlyCollection<ClusterNode> Nodes { get; }

    /// <summary>A node's heartbeat is older than NodeTimeout, or it published its empty retained heartbeat (stopped or its will).</summary>
    event Action<ClusterNode>? NodeLeft;
}

/// <summary>A gateway of the cluster as its heartbeats describe it.</summary>
public sealed record ClusterNode(string NodeId, DateTimeOffset StartedAt, DateTimeOffset LastHeartbeat, bool Alive);

/// <summary>Which node holds a device's live connection.</summary>
public interface IDeviceOwners
{
    /// <summary>The node holding the device's live connection, null if none.</summary>
    string? NodeOf(string deviceId);
}
