using System.Collections.Concurrent;
using IotWs.Gateway.Connections;
using IotWs.Protocol;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// One live connection per device across the cluster. A device that authenticates here is announced on
/// devices/{id}/owner; a node holding an older connection of that device closes it with 4409, exactly like the
/// local takeover in <see cref="AuthHandler"/>. Two connections at almost the same moment are settled by their
/// auth time (then node id), the same way on every node. A node that joins hears every node's devices again
/// ("announce", which never closes anything), so it knows the owners of connections older than itself.
/// </summary>
public sealed partial class DeviceOwnership : IDeviceOwners, IHostedService
{
    private sealed record Owner(string NodeId, string ClientId, DateTimeOffset At);

    private readonly IClusterBus _bus;
    private readonly ConnectionRegistry _registry;
    private readonly GatewayEvents _events;
    private readonly TimeProvider _time;
    private readonly ILogger<DeviceOwnership> _logger;
    private readonly ConcurrentDictionary<string, Owner> _remote = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _nodeStarts = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _subscriptions = [];
    // Claim (a socket's thread) and OnOwner (the bus's) each look at the registry and the map together: a connection
    // bound here a moment before or after another node's claim arrives is settled the same way either way.
    private readonly Lock _gate = new();

    public DeviceOwnership(IClusterBus bus, ConnectionRegistry registry, GatewayEvents events, TimeProvider time, ILogger<DeviceOwnership> logger)
    {
        _bus = bus;
        _registry = registry;
        _events = events;
        _time = time;
        _logger = logger;
    }

    public string? NodeOf(string deviceId)
    {
        if (_registry.FindDevice(deviceId) is not null) return _bus.NodeId;
        if (!_remote.TryGetValue(deviceId, out var owner)) return null;
        return _bus.Nodes.Any(n => n.Alive && n.NodeId == owner.NodeId) ? owner.NodeId : null;
    }

    /// <summary>Device → node for every device with a live connection somewhere in the cluster.</summary>
    public IReadOnlyDictionary<string, string> All()
    {
        var alive = _bus.Nodes.Where(n => n.Alive).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (device, owner) in _remote)
        {
            if (alive.Contains(owner.NodeId)) result[device] = owner.NodeId;
        }
        foreach (var session in _registry.Devices)
        {
            if (!session.IsClosing && session.DeviceId is { } id) result[id] = _bus.NodeId;
        }
        return result;
    }

    /// <summary>The devices another node held when it was last heard of (also after it died: for whoever cleans up after it).</summary>
    public IReadOnlyCollection<string> DevicesOf(string nodeId) =>
        nodeId == _bus.NodeId
            ? _registry.Devices.Where(s => !s.IsClosing).Select(s => s.DeviceId!).ToArray()
            : _remote.Where(e => e.Value.NodeId == nodeId).Select(e => e.Key).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Called by auth right after the device is bound here: tells the other nodes to let go of it. False when a newer
    /// connection of the device on another node already claimed it: this one is then closed with 4409.
    /// </summary>
    public bool Claim(ClientSession session)
    {
        if (!_bus.IsEnabled || session.DeviceId is not { } deviceId) return true;
        var at = session.AuthenticatedAt ?? _time.GetUtcNow();
        lock (_gate)
        {
            // Another node's claim arrived while this connection was authenticating: the newer one wins here too.
            if (_remote.TryGetValue(deviceId, out var other) && IsNewer(other, at) && _bus.Nodes.Any(n => n.Alive && n.NodeId == other.NodeId))
            {
                ReplacedElsewhere(_logger, deviceId, session.ClientId, other.NodeId, other.ClientId);
                session.Close(CloseCodes.Replaced, "replaced by a newer connection of the same device");
                return false;
            }
            _remote.TryRemove(deviceId, out _);
            Publish(ClusterTopics.Owner(deviceId), new DeviceOwnerMessage(_bus.NodeId, session.ClientId, at));
            return true;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_bus.IsEnabled) return Task.CompletedTask;
        // Subscribed after the bus's own membership handler: NodeLeft observers still find a dead node's devices here.
        _subscriptions.Add(_bus.Subscribe(ClusterTopics.OwnersFilter, OnOwner));
        _subscriptions.Add(_bus.Subscribe(ClusterTopics.ReleasedFilter, OnReleased));
        _subscriptions.Add(_bus.Subscribe(ClusterTopics.NodesFilter, OnNode));
        _events.ClientDisconnected += OnDisconnected;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _events.ClientDisconnected -= OnDisconnected;
        foreach (var s in _subscriptions) s.Dispose();
        _subscriptions.Clear();
        return Task.CompletedTask;
    }

    private void OnOwner(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Level(subtopic, 1) is not { } deviceId || ClusterTopics.Decode<DeviceOwnerMessage>(payload) is not { } message) return;
        if (message.NodeId == _bus.NodeId) return;
        var remote = new Owner(message.NodeId, message.ClientId, message.At);
        lock (_gate) Settle(deviceId, remote, message.Announce == true);
    }

    private void Settle(string deviceId, Owner remote, bool announce)
    {
        if (_registry.FindDevice(deviceId) is { } local)
        {
            if (!IsNewer(remote, local.AuthenticatedAt ?? local.ConnectedAt)) return;
            _remote[deviceId] = remote;
            if (announce)
            {
                // Two live connections of one device: only possible after a partition. The newer one wins here too.
                Conflict(_logger, deviceId, remote.NodeId);
            }
            ReplacedElsewhere(_logger, deviceId, local.ClientId, remote.NodeId, remote.ClientId);
            local.Close(CloseCodes.Replaced, "replaced by a newer connection of the same device");
            return;
        }
        _remote.AddOrUpdate(deviceId, remote, (_, old) => old.NodeId == remote.NodeId || IsNewer(remote, old.At, old.NodeId) ? remote : old);
    }

    private void OnReleased(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Level(subtopic, 1) is not { } deviceId || ClusterTopics.Decode<DeviceReleasedMessage>(payload) is not { } message) return;
        // Only the connection it names: a newer one elsewhere stays.
        if (_remote.TryGetValue(deviceId, out var owner) && owner.ClientId == message.ClientId && owner.NodeId == message.NodeId)
            _remote.TryRemove(new KeyValuePair<string, Owner>(deviceId, owner));
    }

    private void OnNode(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Level(subtopic, 1) is not { } nodeId || nodeId == _bus.NodeId) return;
        if (payload.IsEmpty)
        {
            // Stopped, or its will: none of its connections is left.
            _nodeStarts.TryRemove(nodeId, out _);
            Forget(nodeId);
            return;
        }
        if (ClusterTopics.Decode<NodeHeartbeat>(payload) is not { } beat || beat.NodeId != nodeId) return;
        if (_nodeStarts.TryGetValue(nodeId, out var started) && started == beat.StartedAt) return;
        _nodeStarts[nodeId] = beat.StartedAt;
        // A node we had not heard (or one that restarted, holding nothing from before): it learns our devices.
        if (started != default) Forget(nodeId);
        Announce();
    }

    private void OnDisconnected(ClientSession session)
    {
        if (!session.IsDevice || session.DeviceId is not { } deviceId || session.AuthenticatedAt is null) return;
        // Replaced: the newer connection (here or elsewhere) carries on. A newer connection here: nothing was released.
        if (session.CloseCode == CloseCodes.Replaced || _registry.FindDevice(deviceId) is not null) return;
        Publish(ClusterTopics.Released(deviceId), new DeviceReleasedMessage(_bus.NodeId, session.ClientId, _time.GetUtcNow()));
    }

    private void Announce()
    {
        foreach (var session in _registry.Devices)
        {
            if (session.IsClosing || session.DeviceId is not { } id) continue;
            Publish(ClusterTopics.Owner(id), new DeviceOwnerMessage(_bus.NodeId, session.ClientId, session.AuthenticatedAt ?? session.ConnectedAt, Announce: true));
        }
    }

    private void Forget(string nodeId)
    {
        foreach (var (device, owner) in _remote)
        {
            if (owner.NodeId == nodeId) _remote.TryRemove(new KeyValuePair<string, Owner>(device, owner));
        }
    }

    private bool IsNewer(Owner remote, DateTimeOffset at, string? nodeId = null) =>
        remote.At > at || (remote.At == at && string.CompareOrdinal(remote.NodeId, nodeId ?? _bus.NodeId) > 0);

    private void Publish<T>(string subtopic, T message) => _ = _bus.PublishAsync(subtopic, ClusterTopics.Encode(message));

    [LoggerMessage(411, LogLevel.Information, "Device {DeviceId}: closing connection {ClientId} with 4409, replaced by {NewClientId} on node {NodeId}")]
    private static partial void ReplacedElsewhere(ILogger logger, string deviceId, string clientId, string nodeId, string newClientId);

    [LoggerMessage(412, LogLevel.Warning, "Device {DeviceId} was connected here and on node {NodeId} at once (after a partition?); the newer connection stays")]
    private static partial void Conflict(ILogger logger, string deviceId, string nodeId);
}
