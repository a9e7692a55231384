using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Storage;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Devices;

/// <summary>Why a device changed state (the "reason" of a device_status message).</summary>
public static class PresenceReasons
{
    public const string Connected = "connected";
    public const string ActivityResumed = "activity resumed";
    public const string HeartbeatOverdue = "heartbeat overdue";
    public const string HeartbeatTimeout = "heartbeat timeout";
    public const string Disconnected = "disconnected";
    public const string ConnectionLost = "connection lost";
    /// <summary>Followed by the close code: the gateway closed the device's connection for a policy reason.</summary>
    public const string ClosedByGateway = "closed by gateway ";
    /// <summary>Cluster: shown online, silent past its timeout, and no live node claims it (e.g. after every node restarted).</summary>
    public const string NotHeld = "no gateway holds it";
}

/// <summary>
/// Device presence from signs of life: online on auth, stale after 1.5 × the device's heartbeat interval
/// without a message, offline after 3 × (its connection is then closed with 4408), online again when it
/// is heard from. Transitions go to device_status, GatewayEvents.PresenceChanged and SQLite; all timing
/// is read from the registered TimeProvider.
/// </summary>
public sealed partial class PresenceTracker : IDevicePresence, IHostedService, IDisposable
{
    /// <summary>What is known of one device; guarded by locking the instance.</summary>
    private sealed class DeviceState(string deviceId)
    {
        public string DeviceId { get; } = deviceId;
        public string Status { get; set; } = PresenceStates.Offline;
        public DateTimeOffset? StatusSince { get; set; }
        public DateTimeOffset? LastSeen { get; set; }
        public long? BootId { get; set; }
        public TimeSpan Interval { get; set; }
        public JsonObject? LastHeartbeat { get; set; }
        /// <summary>The connection presence follows; earlier connections of the device are ignored.</summary>
        public ClientSession? Session { get; set; }
        public bool Dirty { get; set; }
        /// <summary>Cluster: changed since the other nodes were last told.</summary>
        public bool Shared { get; set; }
        /// <summary>Why the device is in its state (the last transition's reason).</summary>
        public string? Reason { get; set; }

        public PresenceRow ToRow() =>
            new(DeviceId, Status, StatusSince, LastSeen, BootId, Interval, LastHeartbeat is null ? null : Wire.WireJson.ToText(LastHeartbeat));
    }

    private const string GatewaySource = "gateway";
    private static readonly TimeSpan PruneEvery = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, DeviceState> _devices = new(StringComparer.Ordinal);
    private readonly GatewayEvents _events;
    private readonly ITopicBroker _broker;
    private readonly IPresenceStore _store;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly PresenceOptions _options;
    private readonly TimeSpan _defaultInterval;
    private readonly ILogger<PresenceTracker> _logger;
    private readonly Cluster.IClusterBus _cluster;
    private readonly TimeSpan _shareInterval;
    private DateTimeOffset _lastShare;
    private readonly object _checkGate = new();
    private ITimer? _timer;
    private DateTimeOffset _lastFlush;
    private DateTimeOffset _lastPrune = DateTimeOffset.MinValue;
    private bool _disposed;

    public PresenceTracker(
        GatewayEvents events,
        ITopicBroker broker,
        IPresenceStore store,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        IOptions<GatewayOptions> gatewayOptions,
        IOptions<PresenceOptions> options,
        Cluster.IClusterBus cluster,
        ILogger<PresenceTracker> logger)
    {
        _cluster = cluster;
        _shareInterval = gatewayOptions.Value.Cluster.HeartbeatInterval;
        _events = events;
        _broker = broker;
        _store = store;
        _time = time;
        _lifetime = lifetime;
        _options = options.Value;
        _defaultInterval = gatewayOptions.Value.HeartbeatInterval;
        _logger = logger;
        _lastFlush = time.GetUtcNow();

        // The last known state survives a restart. Devices that were online keep that state until their
        // silence, counted from the lastSeen on disk, crosses the usual thresholds: a quick restart that
        // they reconnect through does not show them offline.
        foreach (var row in store.LoadAll())
        {
            _devices[row.DeviceId] = new DeviceState(row.DeviceId)
            {
                Status = row.Status,
                StatusSince = row.StatusSince,
                LastSeen = row.LastSeen,
                BootId = row.BootId,
                Interval = row.HeartbeatInterval,
                LastHeartbeat = row.LastHeartbeatJson is { } json ? JsonNode.Parse(json) as JsonObject : null,
            };
        }

        // A node that joins the cluster hears the state of every device connected here (not only of those that change).
        if (cluster is Cluster.MqttClusterBus mqtt) mqtt.NodeJoined += _ => ShareAllLocal();

        // Subscribed here rather than in StartAsync so no authentication is missed, whatever the start order.
        events.ClientAuthenticated += OnAuthenticated;
        events.MessageReceived += OnSignOfLife;
        events.HeartbeatReceived += OnHeartbeat;
        events.ClientDisconnected += OnDisconnected;
    }

    public PresenceSnapshot Get(string deviceId)
    {
        if (!_devices.TryGetValue(deviceId, out var state))
        {
            // Never heard from: it is not connected, so it is offline.
            return new PresenceSnapshot(deviceId, PresenceStates.Offline, null, null, null, null);
        }
        lock (state)
        {
            return new PresenceSnapshot(deviceId, state.Status, state.StatusSince, state.LastSeen, state.BootId, state.LastHeartbeat?.DeepClone() as JsonObject);
        }
    }

    public IReadOnlyList<PresenceChange> History(string deviceId, int limit) =>
        _store.History(deviceId, limit).Select(t => new PresenceChange(t.DeviceId, t.Status, t.Reason, t.At)).ToList();

    /// <summary>Every device presence knows of.</summary>
    public IReadOnlyList<PresenceSnapshot> All() => _devices.Keys.Order(StringComparer.Ordinal).Select(Get).ToArray();

    /// <summary>How many devices are in each state.</summary>
    public IReadOnlyDictionary<string, int> CountByStatus()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [PresenceStates.Online] = 0,
            [PresenceStates.Stale] = 0,
            [PresenceStates.Offline] = 0,
        };
        foreach (var state in _devices.Values)
        {
            lock (state) counts[state.Status] = counts.GetValueOrDefault(state.Status) + 1;
        }
        return counts;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = _time.CreateTimer(_ => Check(), null, _options.CheckInterval, _options.CheckInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        SaveDirty();
        _store.Flush();
        return Task.CompletedTask;
    }

    /// <summary>Moves silent devices to stale and offline; runs on the timer (and from tests).</summary>
    public void Check()
    {
        // Timer callbacks may overlap when one runs long: the second one has nothing to add.
        if (!Monitor.TryEnter(_checkGate)) return;
        try
        {
            var now = _time.GetUtcNow();
            List<ClientSession>? toClose = null;
            foreach (var state in _devices.Values)
            {
                lock (state)
                {
                    if (state.Status == PresenceStates.Offline || state.LastSeen is not { } lastSeen) continue;
                    // Cluster: a device without a connection here is judged by the node that holds it (or, when that
                    // node died, by whoever cleans up after it through MarkOffline), never by every node at once.
                    if (_cluster.IsEnabled && state.Session is null) continue;
                    var interval = state.Session?.HeartbeatInterval ?? state.Interval;
                    if (interval <= TimeSpan.Zero) interval = _defaultInterval;
                    var silent = now - lastSeen;
                    if (silent >= interval * 3)
                    {
                        Transition(state, PresenceStates.Offline, PresenceReasons.HeartbeatTimeout, now);
                        if (state.Session is { } session) (toClose ??= []).Add(session);
                        state.Session = null;
                    }
                    else if (silent >= interval * 1.5 && state.Status == PresenceStates.Online)
                    {
                        Transition(state, PresenceStates.Stale, PresenceReasons.HeartbeatOverdue, now);
                    }
                }
            }
            if (toClose is not null)
            {
                foreach (var session in toClose)
                {
                    HeartbeatTimeoutClose(_logger, session.DeviceId, session.ClientId);
                    session.Close(CloseCodes.HeartbeatTimeout, "heartbeat timeout");
                }
            }
            if (_cluster.IsEnabled && now - _lastShare >= _shareInterval)
            {
                _lastShare = now;
                ShareChanged();
            }
            if (now - _lastFlush >= _options.LastSeenFlushInterval)
            {
                _lastFlush = now;
                SaveDirty();
            }
            if (_options.HistoryRetention > TimeSpan.Zero && now - _lastPrune >= PruneEvery)
            {
                _lastPrune = now;
                _store.PruneHistory(now - _options.HistoryRetention);
            }
        }
        finally
        {
            Monitor.Exit(_checkGate);
        }
    }

    private void OnAuthenticated(ClientSession session)
    {
        if (!session.IsDevice || session.DeviceId is not { } deviceId) return;
        var now = _time.GetUtcNow();
        var state = _devices.GetOrAdd(deviceId, id => new DeviceState(id));
        lock (state)
        {
            state.Session = session;
            state.LastSeen = now;
            state.BootId = session.BootId ?? state.BootId;
            state.Interval = session.HeartbeatInterval;
            state.Dirty = true;
            state.Shared = true;
            if (state.Status != PresenceStates.Online)
            {
                Transition(state, PresenceStates.Online, PresenceReasons.Connected, now);
            }
        }
    }

    private void OnSignOfLife(ClientSession session)
    {
        if (!session.IsDevice || session.IsClosing || session.DeviceId is not { } deviceId) return;
        if (!_devices.TryGetValue(deviceId, out var state)) return;
        var now = _time.GetUtcNow();
        lock (state)
        {
            if (!ReferenceEquals(state.Session, session)) return;
            state.LastSeen = now;
            state.Interval = session.HeartbeatInterval;
            state.Dirty = true;
            state.Shared = true;
            if (state.Status == PresenceStates.Stale)
            {
                Transition(state, PresenceStates.Online, PresenceReasons.ActivityResumed, now);
            }
        }
    }

    private void OnHeartbeat(ClientSession session, JsonElement message)
    {
        if (!session.IsDevice || session.DeviceId is not { } deviceId) return;
        if (!_devices.TryGetValue(deviceId, out var state)) return;
        var now = _time.GetUtcNow();
        lock (state)
        {
            if (!ReferenceEquals(state.Session, session)) return;
            // Seed clients send bare heartbeats: a metric keeps its last reported value until reported again.
            var metrics = state.LastHeartbeat;
            foreach (var name in (ReadOnlySpan<string>)[Fields.Uptime, Fields.FreeMemory, Fields.Rssi, Fields.SensorErrors])
            {
                if (message.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number)
                {
                    metrics ??= [];
                    metrics[name] = value.TryGetInt64(out var l) ? JsonValue.Create(l) : JsonValue.Create(value.GetDouble());
                    metrics[Fields.At] = Wire.WireJson.Time(now);
                }
            }
            state.LastHeartbeat = metrics;
            state.Dirty = true;
            state.Shared = true;
        }
    }

    private void OnDisconnected(ClientSession session)
    {
        if (!session.IsDevice || session.DeviceId is not { } deviceId) return;
        if (!_devices.TryGetValue(deviceId, out var state)) return;
        var now = _time.GetUtcNow();
        lock (state)
        {
            if (!ReferenceEquals(state.Session, session)) return;
            state.Session = null;
            state.Dirty = true;
            // Replaced: the newer connection carries presence on. Gateway stopping: the device did nothing,
            // so its state stays as it was and the restarted gateway judges it by its lastSeen.
            if (session.CloseCode == CloseCodes.Replaced) return;
            if (session.CloseCode == CloseCodes.TryAgainLater && _lifetime.ApplicationStopping.IsCancellationRequested) return;
            if (state.Status == PresenceStates.Offline) return;
            var reason = session.CloseReason == "closed by client" ? PresenceReasons.Disconnected
                : session.CloseCode is CloseCodes.PolicyViolation or CloseCodes.MessageTooBig or CloseCodes.RateLimited
                    ? PresenceReasons.ClosedByGateway + session.CloseCode
                    : PresenceReasons.ConnectionLost;
            Transition(state, PresenceStates.Offline, reason, now);
        }
    }

    /// <summary>Called with the state locked, so a device's changes are published in the order they happen.</summary>
    private void Transition(DeviceState state, string status, string reason, DateTimeOffset now)
    {
        var from = state.Status;
        state.Status = status;
        state.StatusSince = now;
        state.Reason = reason;
        state.Dirty = false;
        var change = new PresenceChange(state.DeviceId, status, reason, now);
        _store.RecordChange(new PresenceTransition(change.DeviceId, change.Status, change.Reason, change.At), state.ToRow());
        PresenceChanged(_logger, state.DeviceId, from, status, reason);
        _broker.Publish(Topics.DeviceStatus, new JsonObject
        {
            [Fields.DeviceId] = state.DeviceId,
            [Fields.Status] = status,
            [Fields.Reason] = reason,
            [Fields.At] = Wire.WireJson.Time(now),
        }, GatewaySource);
        if (_cluster.IsEnabled)
        {
            // Right behind its device_status, so every node's view changes with the message its subscribers get.
            state.Shared = false;
            Cluster.ClusterFanout.ForwardPresence(_cluster, new JsonArray(Snapshot(state)));
        }
        try
        {
            _events.OnPresenceChanged(change);
        }
        catch (Exception e)
        {
            // An observer's bug must not stop presence for the other devices.
            ObserverFailed(_logger, e, state.DeviceId);
        }
    }

    /// <summary>
    /// Cluster: the state another node (<paramref name="nodeId"/>) reports for a device it holds. It replaces this
    /// node's view unless this node holds a live connection of the device itself; it is not written (the holder writes
    /// it) and raises GatewayEvents.RemotePresenceChanged when the status changed.
    /// </summary>
    public void ApplyRemote(JsonObject snapshot, string nodeId)
    {
        if ((string?)snapshot[Fields.DeviceId] is not { } deviceId || (string?)snapshot[Fields.Status] is not { } status) return;
        if (status is not (PresenceStates.Online or PresenceStates.Stale or PresenceStates.Offline)) return;
        var state = _devices.GetOrAdd(deviceId, id => new DeviceState(id));
        PresenceChange? change = null;
        lock (state)
        {
            if (state.Session is { IsClosing: false })
            {
                // This node holds a live connection: its view wins, and it says so again at the next share, so a node
                // that took the device offline (its owner message lost, say) does not keep showing it offline.
                if (state.Status != status) state.Shared = true;
                return;
            }
            var since = Time(snapshot["statusSince"]);
            var changed = state.Status != status;
            state.Status = status;
            state.StatusSince = since ?? state.StatusSince;
            state.LastSeen = Time(snapshot["lastSeen"]) ?? state.LastSeen;
            state.BootId = (long?)snapshot[Fields.BootId] ?? state.BootId;
            if ((long?)snapshot["heartbeatIntervalMs"] is { } ms) state.Interval = TimeSpan.FromMilliseconds(ms);
            if (snapshot["heartbeat"] is JsonObject heartbeat) state.LastHeartbeat = (JsonObject)heartbeat.DeepClone();
            state.Reason = (string?)snapshot[Fields.Reason] ?? state.Reason;
            // The node holding the device writes its row; this one must not overwrite it with an older view.
            state.Dirty = false;
            if (changed) change = new PresenceChange(deviceId, status, state.Reason ?? "", state.StatusSince ?? _time.GetUtcNow());
        }
        if (change is null) return;
        try
        {
            _events.OnRemotePresenceChanged(change, nodeId);
        }
        catch (Exception e)
        {
            ObserverFailed(_logger, e, deviceId);
        }
    }

    /// <summary>
    /// Cluster: takes a device offline that has no connection here, for a node that died holding it (the caller makes
    /// sure only one node does this). Written, published on device_status and shared like any transition; false when
    /// the device is connected here or already offline.
    /// </summary>
    public bool MarkOffline(string deviceId, string reason)
    {
        if (!_devices.TryGetValue(deviceId, out var state)) return false;
        lock (state)
        {
            if (state.Session is { IsClosing: false } || state.Status == PresenceStates.Offline) return false;
            Transition(state, PresenceStates.Offline, reason, _time.GetUtcNow());
            return true;
        }
    }

    /// <summary>
    /// Cluster: devices shown online or stale that have no connection here and have been silent for three of their
    /// heartbeat intervals plus <paramref name="grace"/>. A device another node holds is shared with its lastSeen, so
    /// it is only here when its holder went quiet too; the caller checks that no live node claims it.
    /// </summary>
    public IReadOnlyList<string> SilentWithoutConnection(TimeSpan grace)
    {
        var now = _time.GetUtcNow();
        var silent = new List<string>();
        foreach (var state in _devices.Values)
        {
            lock (state)
            {
                if (state.Status == PresenceStates.Offline || state.Session is not null) continue;
                var interval = state.Interval > TimeSpan.Zero ? state.Interval : _defaultInterval;
                if (state.LastSeen is not { } lastSeen || now - lastSeen >= interval * 3 + grace) silent.Add(state.DeviceId);
            }
        }
        return silent;
    }

    private void ShareAllLocal()
    {
        foreach (var state in _devices.Values)
        {
            lock (state)
            {
                if (state.Session is not null) state.Shared = true;
            }
        }
    }

    /// <summary>Sends the other nodes what changed for the devices connected here since the last time.</summary>
    private void ShareChanged()
    {
        var batch = new JsonArray();
        foreach (var state in _devices.Values)
        {
            lock (state)
            {
                if (!state.Shared || state.Session is null) continue;
                state.Shared = false;
                batch.Add((JsonNode)Snapshot(state));
            }
            if (batch.Count >= 200)
            {
                Cluster.ClusterFanout.ForwardPresence(_cluster, batch);
                batch = [];
            }
        }
        if (batch.Count > 0) Cluster.ClusterFanout.ForwardPresence(_cluster, batch);
    }

    /// <summary>{"deviceId","status","statusSince","lastSeen","bootId","heartbeatIntervalMs","heartbeat","reason"}; called with the state locked.</summary>
    private static JsonObject Snapshot(DeviceState state) => new()
    {
        [Fields.DeviceId] = state.DeviceId,
        [Fields.Status] = state.Status,
        ["statusSince"] = state.StatusSince is { } since ? Wire.WireJson.Time(since) : null,
        ["lastSeen"] = state.LastSeen is { } seen ? Wire.WireJson.Time(seen) : null,
        [Fields.BootId] = state.BootId,
        ["heartbeatIntervalMs"] = (long)(state.Session?.HeartbeatInterval ?? state.Interval).TotalMilliseconds,
        ["heartbeat"] = state.LastHeartbeat?.DeepClone(),
        [Fields.Reason] = state.Reason,
    };

    private static DateTimeOffset? Time(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var text)
        && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private void SaveDirty()
    {
        var rows = new List<PresenceRow>();
        foreach (var state in _devices.Values)
        {
            lock (state)
            {
                if (!state.Dirty) continue;
                state.Dirty = false;
                rows.Add(state.ToRow());
            }
        }
        _store.SaveStates(rows);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _events.ClientAuthenticated -= OnAuthenticated;
        _events.MessageReceived -= OnSignOfLife;
        _events.HeartbeatReceived -= OnHeartbeat;
        _events.ClientDisconnected -= OnDisconnected;
        _timer?.Dispose();
        SaveDirty();
    }

    [LoggerMessage(201, LogLevel.Information, "Device {DeviceId} is {Status} (was {From}): {Reason}")]
    private static partial void PresenceChanged(ILogger logger, string deviceId, string from, string status, string reason);

    [LoggerMessage(202, LogLevel.Warning, "Device {DeviceId}: closing connection {ClientId} with 4408 after its heartbeat timed out")]
    private static partial void HeartbeatTimeoutClose(ILogger logger, string? deviceId, string clientId);

    [LoggerMessage(203, LogLevel.Error, "A PresenceChanged observer failed for device {DeviceId}")]
    private static partial void ObserverFailed(ILogger logger, Exception e, string deviceId);
}
