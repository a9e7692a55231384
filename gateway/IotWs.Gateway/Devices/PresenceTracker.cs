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
        ILogger<PresenceTracker> logger)
    {
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
