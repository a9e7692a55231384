using System.Collections.Concurrent;
using IotWs.Gateway.Connections;
using IotWs.Mqtt;
using MQTTnet;
using MQTTnet.Protocol;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// The cluster bus on one MQTT broker, through <see cref="MqttLink"/> (the gateway's MQTTnet client that already
/// queues through outages, reconnects with backoff and renews subscriptions). One subscription, "iotws-cluster/#"
/// with no-local, carries everything; handlers are matched here. Membership: a retained heartbeat every
/// HeartbeatInterval, an empty retained will, and a sweep that declares silent nodes dead — but only while this node
/// itself is connected, not sooner than NodeTimeout after it (re)connected, and only once the broker has answered a
/// ping sent after the silence was noticed: a broker outage, or a connection broken without either end knowing yet,
/// is not taken for the death of every other node.
/// </summary>
public sealed partial class MqttClusterBus : IClusterBus, IAsyncDisposable
{
    private sealed class NodeEntry(string nodeId)
    {
        public string NodeId { get; } = nodeId;
        public DateTimeOffset StartedAt { get; set; }
        public DateTimeOffset LastHeartbeat { get; set; }
        public bool Alive { get; set; }
        public int Devices { get; set; }

        public ClusterNode ToNode() => new(NodeId, StartedAt, LastHeartbeat, Alive);
    }

    private sealed record Subscription(string Filter, Action<string, ReadOnlyMemory<byte>> Handler);

    private readonly ClusterOptions _options;
    private readonly ConnectionRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly MqttLink _link;
    private readonly ConcurrentDictionary<string, NodeEntry> _nodes = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Subscription[] _subscriptions = [];
    private ITimer? _timer;
    private DateTimeOffset _judgeFrom = DateTimeOffset.MinValue;
    private volatile bool _stopped;
    private long _received;
    // 1 while a ping proves the link before silent nodes are declared dead.
    private int _proving;

    public MqttClusterBus(ClusterOptions options, string nodeId, ConnectionRegistry registry, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options;
        _registry = registry;
        _time = time;
        _logger = loggers.CreateLogger<MqttClusterBus>();
        NodeId = nodeId;
        StartedAt = time.GetUtcNow();
        _nodes[nodeId] = new NodeEntry(nodeId) { StartedAt = StartedAt, LastHeartbeat = StartedAt, Alive = true };
        _link = new MqttLink(new MqttLinkOptions
        {
            Host = options.Mqtt.Host!,
            Port = options.Mqtt.Port,
            ClientId = "iotws-cluster-" + nodeId,
            Username = options.Mqtt.Username,
            Password = options.Mqtt.Password,
            UseTls = options.Mqtt.UseTls,
            // The broker notices a vanished node within 1.5 keep-alives and publishes the will.
            KeepAlive = options.NodeTimeout,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ReconnectMin = TimeSpan.FromMilliseconds(250),
            ReconnectMax = ReconnectMax(options),
            QueueCapacity = options.QueueCapacity,
            MaxInFlight = 64,
            Subscriptions = [ClusterTopics.Root + "#"],
            NoLocal = true,
            Will = new MqttApplicationMessageBuilder()
                .WithTopic(ClusterTopics.Root + ClusterTopics.Node(nodeId))
                .WithPayload(Array.Empty<byte>())
                .WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(),
        }, loggers.CreateLogger<MqttLink>());
        _link.Connected += OnConnected;
        _link.MessageReceived += OnMessage;
    }

    public string NodeId { get; }
    public bool IsEnabled => true;
    public DateTimeOffset StartedAt { get; }
    public bool IsConnected => _link.IsConnected;
    public MqttLinkStatus LinkStatus => _link.Status;
    public long Received => Interlocked.Read(ref _received);

    public IReadOnlyCollection<ClusterNode> Nodes => _nodes.Values.Select(n => n.ToNode()).OrderBy(n => n.NodeId, StringComparer.Ordinal).ToArray();

    /// <summary>Devices connected to each known node, as its last heartbeat said (this node: now).</summary>
    public IReadOnlyDictionary<string, int> DeviceCounts
    {
        get
        {
            var counts = _nodes.Values.ToDictionary(n => n.NodeId, n => n.Devices, StringComparer.Ordinal);
            counts[NodeId] = _registry.DeviceCount;
            return counts;
        }
    }

    public event Action<ClusterNode>? NodeLeft;

    /// <summary>A node was heard for the first time, or again after it had left (it may need state others hold).</summary>
    public event Action<ClusterNode>? NodeJoined;

    public void Start()
    {
        SubscribeMembership();
        _link.Start();
        _timer = _time.CreateTimer(_ => Tick(), null, _options.HeartbeatInterval, _options.HeartbeatInterval);
        Started(_logger, NodeId, $"{_options.Mqtt.Host}:{_options.Mqtt.Port}");
    }

    /// <summary>Clears the retained heartbeat (the others see "gone" at once), sends what is queued, then disconnects cleanly.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        _timer?.Dispose();
        if (_link.IsConnected) Publish(ClusterTopics.Node(NodeId), ReadOnlyMemory<byte>.Empty, retain: true);
        await _link.StopAsync(TimeSpan.FromSeconds(3));
    }

    public Task PublishAsync(string subtopic, ReadOnlyMemory<byte> payload, bool retain = false, CancellationToken ct = default)
    {
        if (!_stopped) Publish(subtopic, payload, retain);
        return Task.CompletedTask;
    }

    public IDisposable Subscribe(string subtopicFilter, Action<string, ReadOnlyMemory<byte>> handler)
    {
        if (!IotWs.Protocol.Topics.IsValidFilter(subtopicFilter)) throw new ArgumentException($"'{subtopicFilter}' is not a valid MQTT topic filter.", nameof(subtopicFilter));
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = new Subscription(subtopicFilter, handler);
        lock (_gate) _subscriptions = [.. _subscriptions, subscription];
        return new Unsubscriber(this, subscription);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _link.DisposeAsync();
    }

    /// <summary>The longest reconnect backoff: the node timeout, between 1 and 5 s.</summary>
    private static TimeSpan ReconnectMax(ClusterOptions options) =>
        TimeSpan.FromTicks(Math.Clamp(options.NodeTimeout.Ticks, TimeSpan.TicksPerSecond, 5 * TimeSpan.TicksPerSecond));

    private void Publish(string subtopic, ReadOnlyMemory<byte> payload, bool retain) =>
        _link.Publish(new MqttApplicationMessageBuilder()
            .WithTopic(ClusterTopics.Root + subtopic)
            .WithPayload(payload.ToArray())
            .WithRetainFlag(retain)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    private void SubscribeMembership() => Subscribe(ClusterTopics.NodesFilter, OnHeartbeat);

    private void OnConnected()
    {
        // Heard nothing yet on this connection: give every node a full NodeTimeout to be heard from again.
        lock (_gate) _judgeFrom = _time.GetUtcNow();
        PublishHeartbeat();
    }

    private void Tick()
    {
        try
        {
            PublishHeartbeat();
            Sweep();
        }
        catch (Exception e)
        {
            TickFailed(_logger, e);
        }
    }

    private void PublishHeartbeat()
    {
        // Not queued while the broker is away: a heartbeat delivered late says nothing true. Connected sends one.
        if (_stopped || !_link.IsConnected) return;
        var now = _time.GetUtcNow();
        var devices = _registry.DeviceCount;
        if (_nodes.TryGetValue(NodeId, out var self))
        {
            lock (self)
            {
                self.LastHeartbeat = now;
                self.Devices = devices;
                self.Alive = true;
            }
        }
        Publish(ClusterTopics.Node(NodeId), ClusterTopics.Encode(new NodeHeartbeat(NodeId, StartedAt, now, devices)), retain: true);
    }

    /// <summary>Declares nodes dead whose heartbeat is older than NodeTimeout (while this node is connected to judge).</summary>
    private void Sweep()
    {
        var now = _time.GetUtcNow();
        if (!_link.IsConnected)
        {
            lock (_gate) _judgeFrom = now;
            return;
        }
        if (!_nodes.Values.Any(n => IsSilent(n, now))) return;
        // Someone looks dead. Whether that is true or only our own connection is broken (no byte in or out, and the
        // keep-alive has not noticed yet) the broker's answer to a ping tells: it comes back on the same connection
        // after anything the others published before it.
        if (Interlocked.Exchange(ref _proving, 1) == 1) return;
        _ = ProveLinkThenJudgeAsync();
    }

    private async Task ProveLinkThenJudgeAsync()
    {
        try
        {
            if (!await _link.PingAsync(_options.NodeTimeout))
            {
                // Not proven: judge nobody until a full NodeTimeout after the link carries traffic again.
                lock (_gate) _judgeFrom = _time.GetUtcNow();
                LinkUnproven(_logger, NodeId);
                return;
            }
            var now = _time.GetUtcNow();
            foreach (var node in _nodes.Values)
            {
                ClusterNode? left = null;
                lock (node)
                {
                    if (IsSilent(node, now))
                    {
                        node.Alive = false;
                        left = node.ToNode();
                    }
                }
                if (left is not null) RaiseLeft(left, "heartbeat timed out");
            }
        }
        catch (Exception e)
        {
            TickFailed(_logger, e);
        }
        finally
        {
            Volatile.Write(ref _proving, 0);
        }
    }

    /// <summary>Another node, alive so far, not heard from for NodeTimeout since it last spoke or since this node could judge.</summary>
    private bool IsSilent(NodeEntry node, DateTimeOffset now)
    {
        if (node.NodeId == NodeId || !node.Alive) return false;
        DateTimeOffset judgeFrom;
        lock (_gate) judgeFrom = _judgeFrom;
        // After a broker restart the others reconnect within one backoff step of us: wait for that too.
        var from = judgeFrom + ReconnectMax(_options);
        var heard = node.LastHeartbeat > from ? node.LastHeartbeat : from;
        return now - heard > _options.NodeTimeout;
    }

    private void OnHeartbeat(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Level(subtopic, 1) is not { } nodeId || nodeId == NodeId) return;
        var now = _time.GetUtcNow();
        if (payload.IsEmpty)
        {
            // The node stopped (or its will): it is gone, and forgotten.
            if (_nodes.TryRemove(nodeId, out var gone))
            {
                ClusterNode node;
                bool wasAlive;
                lock (gone)
                {
                    wasAlive = gone.Alive;
                    gone.Alive = false;
                    node = gone.ToNode();
                }
                if (wasAlive) RaiseLeft(node, "gone");
            }
            return;
        }
        if (ClusterTopics.Decode<NodeHeartbeat>(payload) is not { } beat || beat.NodeId != nodeId) return;
        // A heartbeat stamped in the future (clock skew) counts as now; a retained one from long ago stays old.
        var at = beat.At > now ? now : beat.At;
        var entry = _nodes.GetOrAdd(nodeId, id => new NodeEntry(id) { StartedAt = beat.StartedAt, LastHeartbeat = DateTimeOffset.MinValue });
        ClusterNode? joined = null;
        ClusterNode? left = null;
        lock (entry)
        {
            var firstHeard = entry.LastHeartbeat == DateTimeOffset.MinValue;
            var restarted = beat.StartedAt != entry.StartedAt;
            if (at < entry.LastHeartbeat && !restarted) return;
            var fresh = now - at <= _options.NodeTimeout;
            entry.StartedAt = beat.StartedAt;
            entry.LastHeartbeat = at;
            entry.Devices = beat.Devices;
            if (fresh && (!entry.Alive || restarted))
            {
                entry.Alive = true;
                joined = entry.ToNode();
            }
            else if (!fresh && firstHeard)
            {
                // A node first heard through an old retained heartbeat died while nobody was listening. (An old
                // heartbeat of a node known alive was delayed in a queue: the sweep judges that one.)
                entry.Alive = false;
                left = entry.ToNode();
            }
        }
        if (joined is not null)
        {
            NodeSeen(_logger, nodeId, beat.StartedAt);
            Raise(NodeJoined, joined, nameof(NodeJoined));
        }
        if (left is not null) RaiseLeft(left, "its retained heartbeat is old");
    }

    private void RaiseLeft(ClusterNode node, string why)
    {
        NodeGone(_logger, node.NodeId, why, node.LastHeartbeat);
        Raise(NodeLeft, node, nameof(NodeLeft));
    }

    private void Raise(Action<ClusterNode>? handlers, ClusterNode node, string name)
    {
        if (handlers is null) return;
        foreach (var handler in handlers.GetInvocationList().Cast<Action<ClusterNode>>())
        {
            try
            {
                handler(node);
            }
            catch (Exception e)
            {
                HandlerFailed(_logger, e, name);
            }
        }
    }

    private Task OnMessage(string topic, ReadOnlyMemory<byte> payload)
    {
        if (!topic.StartsWith(ClusterTopics.Root, StringComparison.Ordinal)) return Task.CompletedTask;
        Interlocked.Increment(ref _received);
        var subtopic = topic[ClusterTopics.Root.Length..];
        // A 3.1.1 broker has no no-local: our own messages come back and are not for us (heartbeats, pubsub, owners).
        if (IsOwn(subtopic)) return Task.CompletedTask;
        Subscription[] subscriptions;
        lock (_gate) subscriptions = _subscriptions;
        foreach (var s in subscriptions)
        {
            if (!IotWs.Protocol.Topics.Matches(s.Filter, subtopic)) continue;
            try
            {
                s.Handler(subtopic, payload);
            }
            catch (Exception e)
            {
                HandlerFailed(_logger, e, s.Filter);
            }
        }
        return Task.CompletedTask;
    }

    private bool IsOwn(string subtopic) =>
        subtopic == ClusterTopics.Node(NodeId) || subtopic == ClusterTopics.PubSub(NodeId);

    private sealed class Unsubscriber(MqttClusterBus bus, Subscription subscription) : IDisposable
    {
        public void Dispose()
        {
            lock (bus._gate) bus._subscriptions = bus._subscriptions.Where(s => !ReferenceEquals(s, subscription)).ToArray();
        }
    }

    [LoggerMessage(401, LogLevel.Information, "Cluster node {NodeId} on broker {Broker}")]
    private static partial void Started(ILogger logger, string nodeId, string broker);

    [LoggerMessage(402, LogLevel.Information, "Cluster node {NodeId} is here (started {StartedAt})")]
    private static partial void NodeSeen(ILogger logger, string nodeId, DateTimeOffset startedAt);

    [LoggerMessage(403, LogLevel.Warning, "Cluster node {NodeId} left: {Why} (last heartbeat {LastHeartbeat})")]
    private static partial void NodeGone(ILogger logger, string nodeId, string why, DateTimeOffset lastHeartbeat);

    [LoggerMessage(404, LogLevel.Error, "A cluster bus handler for {Filter} failed")]
    private static partial void HandlerFailed(ILogger logger, Exception e, string filter);

    [LoggerMessage(406, LogLevel.Warning, "Cluster node {NodeId} did not hear from other nodes and the broker did not answer a ping: nobody is declared dead until the link to the broker works again")]
    private static partial void LinkUnproven(ILogger logger, string nodeId);

    [LoggerMessage(405, LogLevel.Error, "The cluster heartbeat failed")]
    private static partial void TickFailed(ILogger logger, Exception e);
}
