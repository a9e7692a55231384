using System.Globalization;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Storage;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Alerts;

/// <summary>
/// Judges the configured rules against stored readings and presence changes. Each (rule, device) pair
/// is a small state machine: pending while the condition holds for less than the rule's wait,
/// active once raised (published once), cleared once the value is back past the hysteresis
/// (published once). Offline rules also: wait OfflineGrace by default, stay quiet through a reboot a
/// technician asked for until it is confirmed or not, and summarise a flapping device in one alert.
/// Time is the registered TimeProvider's. In a cluster only the owner lease's holder judges (it hears every node's
/// readings and presence changes through the bus), so an alert is raised once; a node that takes the lease over
/// picks up the active alerts from the shared store (conditions still pending start their wait again).
/// </summary>
internal sealed partial class AlertEvaluator : IHostedService, IDisposable
{
    /// <summary>One rule applied to one device.</summary>
    private sealed class Condition
    {
        public DateTimeOffset? PendingSince { get; set; }
        public string? PendingReason { get; set; }
        public Alert? Active { get; set; }
        /// <summary>Offline rules: the Active alert is a flapping summary, not one outage.</summary>
        public bool Flapping => Active is { Occurrences: > 1 };
        /// <summary>Offline rules: disconnects within FlapWindow, oldest first (a requested reboot is not one).</summary>
        public Queue<DateTimeOffset> Disconnects { get; } = new();
        /// <summary>When the device last came back online (a flapping summary clears a FlapWindow after it).</summary>
        public DateTimeOffset? BackOnlineAt { get; set; }
        public bool Offline { get; set; }
    }

    private const string GatewaySource = "gateway";

    private readonly AlertOptions _options;
    private readonly GatewayEvents _events;
    private readonly DeviceCalls _calls;
    private readonly ITopicBroker _broker;
    private readonly IAlertStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<AlertEvaluator> _logger;
    private readonly IClusterLeases _leases;
    private readonly Dictionary<(string Rule, string DeviceId), Condition> _conditions = [];
    // deviceId → who asked for the reboot the device acknowledged and has not yet come back from.
    private readonly Dictionary<string, string> _rebooting = new(StringComparer.Ordinal);
    // Rule evaluation is a few comparisons: one lock keeps raise/clear decisions and their publishing in order.
    private readonly object _gate = new();
    private ITimer? _timer;
    private bool _disposed;

    public AlertEvaluator(IOptions<AlertOptions> options, GatewayEvents events, DeviceCalls calls, ITopicBroker broker, IAlertStore store, TimeProvider time, IClusterLeases leases, ILogger<AlertEvaluator> logger)
    {
        _options = options.Value;
        _events = events;
        _calls = calls;
        _broker = broker;
        _store = store;
        _time = time;
        _logger = logger;
        _leases = leases;

        if (leases.IsOwner(ClusterWork.Alerts)) Restore();
        leases.OwnershipChanged += OnOwnershipChanged;

        if (_options.Enabled)
        {
            events.ReadingStored += OnReading;
            events.PresenceChanged += OnPresence;
            // Cluster: other nodes' readings and presence changes, so the owner judges the whole fleet.
            events.RemoteReadingStored += OnRemoteReading;
            events.RemotePresenceChanged += OnRemotePresence;
            calls.CallChanged += OnCall;
        }
    }

    /// <summary>
    /// Alerts active before a restart (or raised by the previous lease owner) stay active and are not raised again;
    /// those of a rule that no longer exists are closed.
    /// </summary>
    private void Restore()
    {
        var rules = Rules.ToDictionary(r => r.Name, StringComparer.Ordinal);
        lock (_gate)
        {
            _conditions.Clear();
            foreach (var alert in _store.List(Alert.Active, null, int.MaxValue).Select(Alert.FromRow))
            {
                if (rules.ContainsKey(alert.Rule))
                {
                    var restored = new Condition { Active = alert, Offline = alert.Metric == AlertMetrics.Offline && alert.Occurrences == 1 };
                    // A flapping summary counts its quiet window from the restart.
                    if (restored.Flapping) restored.BackOnlineAt = _time.GetUtcNow();
                    _conditions[(alert.Rule, alert.DeviceId)] = restored;
                }
                else
                {
                    _store.Save((alert with { State = Alert.Cleared, ClearedAt = _time.GetUtcNow(), Resolution = "rule removed from configuration" }).ToRow());
                }
            }
        }
    }

    /// <summary>Taking the lease over: start from what the store holds; losing it: judge nothing until taken again.</summary>
    private void OnOwnershipChanged(bool owner)
    {
        if (owner)
        {
            Restore();
            return;
        }
        lock (_gate) _conditions.Clear();
    }

    /// <summary>Raised after an alert is raised, updated, acknowledged or cleared (for bridges and the switchboard).</summary>
    public event Action<Alert>? AlertChanged;

    public IReadOnlyList<AlertRule> Rules => _options.Enabled ? _options.Rules : [];

    /// <summary>Active alerts; a cluster node that does not judge reads the owner's from the shared store.</summary>
    public int ActiveCount
    {
        get
        {
            if (!_leases.IsOwner(ClusterWork.Alerts)) return _store.List(Alert.Active, null, int.MaxValue).Count;
            lock (_gate) return _conditions.Values.Count(c => c.Active is not null);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Enabled && Rules.Any(r => r.Metric == AlertMetrics.Offline))
        {
            _timer = _time.CreateTimer(_ => Check(), null, _options.CheckInterval, _options.CheckInterval);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _store.Flush();
        return Task.CompletedTask;
    }

    /// <summary>Judges one stored reading against the temperature and humidity rules.</summary>
    public void OnReading(StoredReading reading)
    {
        if (!_leases.IsOwner(ClusterWork.Alerts)) return;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var rule in Rules)
            {
                if (!rule.AppliesTo(reading.DeviceId)) continue;
                var value = rule.Metric switch
                {
                    AlertMetrics.Temperature => reading.Temperature,
                    AlertMetrics.Humidity => reading.Humidity,
                    _ => double.NaN,
                };
                if (double.IsNaN(value)) continue;
                JudgeValue(rule, reading.DeviceId, value, now);
            }
        }
    }

    private void OnRemoteReading(StoredReading reading, string nodeId) => OnReading(reading);

    private void OnRemotePresence(PresenceChange change, string nodeId) => OnPresence(change);

    /// <summary>Offline rules: pending from the offline change, cleared when the device is online again; disconnects counted for flapping.</summary>
    public void OnPresence(PresenceChange change)
    {
        if (!_leases.IsOwner(ClusterWork.Alerts)) return;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var rule in Rules)
            {
                if (rule.Metric != AlertMetrics.Offline || !rule.AppliesTo(change.DeviceId)) continue;
                var condition = ConditionOf(rule, change.DeviceId);
                if (change.Status == PresenceStates.Offline)
                {
                    if (condition.Offline) continue; // stale → offline after offline is not a second disconnect
                    condition.Offline = true;
                    if (condition.Active is not null && !condition.Flapping) continue;
                    var expected = _rebooting.ContainsKey(change.DeviceId);
                    if (!expected) CountDisconnect(condition, change.At, now);
                    if (condition.Active is { } summary)
                    {
                        // Flapping: this disconnect goes into the summary instead of an alert of its own.
                        if (!expected) Update(summary with { Occurrences = summary.Occurrences + 1 });
                        continue;
                    }
                    condition.PendingSince ??= change.At;
                    condition.PendingReason = change.Reason;
                    if (!expected && condition.Disconnects.Count >= _options.FlapThreshold)
                    {
                        RaiseFlapping(rule, change.DeviceId, condition, now);
                        continue;
                    }
                    if (!expected && now - condition.PendingSince >= rule.WaitFor(_options)) RaiseOffline(rule, change.DeviceId, condition, now);
                }
                else if (change.Status == PresenceStates.Online)
                {
                    condition.Offline = false;
                    condition.BackOnlineAt = change.At;
                    condition.PendingSince = null;
                    if (condition.Active is { } active && !condition.Flapping)
                        Clear(condition, active, $"back online after {Describe(now - active.StartedAt)}", null, now);
                }
            }
        }
    }

    /// <summary>Raises offline alerts whose wait has passed and clears flapping summaries of devices stable again; runs on the timer.</summary>
    public void Check()
    {
        if (!_leases.IsOwner(ClusterWork.Alerts)) return;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var rule in Rules)
            {
                if (rule.Metric != AlertMetrics.Offline) continue;
                foreach (var ((ruleName, deviceId), condition) in _conditions)
                {
                    if (ruleName != rule.Name) continue;
                    if (condition.Flapping)
                    {
                        if (!condition.Offline && condition.BackOnlineAt is { } back && now - back >= _options.FlapWindow)
                        {
                            var summary = condition.Active!;
                            Clear(condition, summary, $"stable again: online for {Describe(_options.FlapWindow)} after {summary.Occurrences} disconnects", null, now);
                            condition.Disconnects.Clear();
                        }
                        continue;
                    }
                    if (condition.Active is not null || condition.PendingSince is not { } since) continue;
                    if (_rebooting.ContainsKey(deviceId) || now - since < rule.WaitFor(_options)) continue;
                    RaiseOffline(rule, deviceId, condition, now);
                }
            }
        }
    }

    /// <summary>
    /// A reboot the device acknowledged is an outage someone asked for: offline rules wait for its outcome.
    /// Confirmed (back with a new boot): nothing is raised. Unconfirmed: the outage is judged as any other.
    /// </summary>
    public void OnCall(RpcCall call)
    {
        if (call.Endpoint != Endpoints.Reboot) return;
        lock (_gate)
        {
            if (call.Status == RpcStatuses.Rebooting)
            {
                _rebooting[call.DeviceId] = call.Caller;
                return;
            }
            if (!_rebooting.Remove(call.DeviceId, out var caller)) return;
            foreach (var ((_, deviceId), condition) in _conditions)
            {
                if (deviceId != call.DeviceId || condition.Active is not null) continue;
                if (call.Status == RpcStatuses.Confirmed) condition.PendingSince = null;
                else if (condition.PendingSince is not null) condition.PendingReason = $"not back from the reboot {caller} asked for";
            }
        }
    }

    /// <summary>Records who acknowledged an alert and when (the first acknowledgement is kept); null for an unknown id.</summary>
    public Alert? Acknowledge(long id, string by)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var condition in _conditions.Values)
            {
                if (condition.Active is not { } active || active.Id != id) continue;
                if (active.AcknowledgedBy is not null) return active;
                condition.Active = active with { AcknowledgedBy = by, AcknowledgedAt = now };
                AlertAcknowledged(_logger, id, by);
                Announce(condition.Active);
                return condition.Active;
            }
            if (_store.Get(id) is not { } row) return null;
            var stored = Alert.FromRow(row);
            if (stored.AcknowledgedBy is not null) return stored;
            var acknowledged = stored with { AcknowledgedBy = by, AcknowledgedAt = now };
            AlertAcknowledged(_logger, id, by);
            Announce(acknowledged);
            return acknowledged;
        }
    }

    private void CountDisconnect(Condition condition, DateTimeOffset at, DateTimeOffset now)
    {
        condition.Disconnects.Enqueue(at);
        while (condition.Disconnects.TryPeek(out var oldest) && now - oldest > _options.FlapWindow) condition.Disconnects.Dequeue();
    }

    private void RaiseOffline(AlertRule rule, string deviceId, Condition condition, DateTimeOffset now)
    {
        var since = condition.PendingSince ?? now;
        Raise(rule, deviceId, null, $"{deviceId} went offline ({condition.PendingReason})", now, since);
        condition.PendingSince = null;
    }

    private void RaiseFlapping(AlertRule rule, string deviceId, Condition condition, DateTimeOffset now)
    {
        var count = condition.Disconnects.Count;
        var alert = new Alert(_store.NextId(), rule.Name, rule.Metric, deviceId, rule.Severity, Alert.Active,
            $"{deviceId} is unstable: offline {count} times within {Describe(_options.FlapWindow)}", null, now, null)
        {
            StartedAt = condition.Disconnects.Peek(),
            Occurrences = count,
        };
        condition.Active = alert;
        condition.PendingSince = null;
        AlertRaised(_logger, alert.Id, rule.Name, deviceId, alert.Message);
        Announce(alert);
    }

    private void Update(Alert alert)
    {
        ConditionOf(alert.Rule, alert.DeviceId).Active = alert;
        Announce(alert);
    }

    private void JudgeValue(AlertRule rule, string deviceId, double value, DateTimeOffset now)
    {
        var condition = ConditionOf(rule, deviceId);
        var above = rule.Comparison == AlertComparisons.Above;
        var unit = rule.Metric == AlertMetrics.Temperature ? " °C" : " %RH";
        if (condition.Active is { } active)
        {
            var recovered = above ? value <= rule.Threshold - rule.Hysteresis : value >= rule.Threshold + rule.Hysteresis;
            if (recovered)
            {
                var bound = above ? rule.Threshold - rule.Hysteresis : rule.Threshold + rule.Hysteresis;
                Clear(condition, active, $"{rule.Metric} {Number(value)}{unit} is back {(above ? "at or below" : "at or above")} {Number(bound)}{unit} after {Describe(now - active.StartedAt)}", value, now);
            }
            return;
        }
        var holds = above ? value > rule.Threshold : value < rule.Threshold;
        if (!holds)
        {
            condition.PendingSince = null;
            return;
        }
        condition.PendingSince ??= now;
        var wait = rule.WaitFor(_options);
        if (now - condition.PendingSince >= wait)
        {
            var held = wait > TimeSpan.Zero ? $" for {Describe(wait)}" : "";
            Raise(rule, deviceId, value, $"{deviceId}: {rule.Metric} {Number(value)}{unit} {rule.Comparison} {Number(rule.Threshold)}{unit}{held}", now, condition.PendingSince.Value);
            condition.PendingSince = null;
        }
    }

    private Condition ConditionOf(AlertRule rule, string deviceId) => ConditionOf(rule.Name, deviceId);

    private Condition ConditionOf(string rule, string deviceId)
    {
        if (!_conditions.TryGetValue((rule, deviceId), out var condition))
        {
            condition = new Condition();
            _conditions[(rule, deviceId)] = condition;
        }
        return condition;
    }

    private void Raise(AlertRule rule, string deviceId, double? value, string message, DateTimeOffset now, DateTimeOffset startedAt)
    {
        var alert = new Alert(_store.NextId(), rule.Name, rule.Metric, deviceId, rule.Severity, Alert.Active, message, value, now, null) { StartedAt = startedAt };
        ConditionOf(rule, deviceId).Active = alert;
        AlertRaised(_logger, alert.Id, rule.Name, deviceId, message);
        Announce(alert);
    }

    private void Clear(Condition condition, Alert active, string resolution, double? value, DateTimeOffset now)
    {
        condition.Active = null;
        // The alert keeps its message and the value that raised it; how it ended is the resolution.
        var cleared = active with { State = Alert.Cleared, ClearedAt = now, Resolution = resolution };
        if (value is { } v) AlertCleared(_logger, cleared.Id, cleared.Rule, cleared.DeviceId, resolution, v);
        else AlertEnded(_logger, cleared.Id, cleared.Rule, cleared.DeviceId, resolution);
        Announce(cleared);
    }

    private void Announce(Alert alert)
    {
        _store.Save(alert.ToRow());
        var json = alert.ToJson();
        _broker.Publish(Topics.SystemAlerts, json, GatewaySource);
        if (alert.Metric == AlertMetrics.Temperature) _broker.Publish(Topics.TemperatureAlerts, json.DeepClone(), GatewaySource);
        try
        {
            AlertChanged?.Invoke(alert);
        }
        catch (Exception e)
        {
            ObserverFailed(_logger, e, alert.Id);
        }
    }

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>"45 s", "2 min", "1 h 5 min": whole units, as the dashboard shows durations.</summary>
    internal static string Describe(TimeSpan duration)
    {
        if (duration < TimeSpan.FromMinutes(1)) return $"{Math.Max(0, (int)Math.Round(duration.TotalSeconds))} s";
        if (duration < TimeSpan.FromHours(1)) return $"{(int)duration.TotalMinutes} min";
        if (duration < TimeSpan.FromDays(1)) return duration.Minutes == 0 ? $"{(int)duration.TotalHours} h" : $"{(int)duration.TotalHours} h {duration.Minutes} min";
        return $"{(int)duration.TotalDays} d {duration.Hours} h";
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _leases.OwnershipChanged -= OnOwnershipChanged;
        _events.ReadingStored -= OnReading;
        _events.PresenceChanged -= OnPresence;
        _events.RemoteReadingStored -= OnRemoteReading;
        _events.RemotePresenceChanged -= OnRemotePresence;
        _calls.CallChanged -= OnCall;
        _timer?.Dispose();
    }

    [LoggerMessage(301, LogLevel.Warning, "Alert {AlertId} raised by rule {Rule} for device {DeviceId}: {Message}")]
    private static partial void AlertRaised(ILogger logger, long alertId, string rule, string deviceId, string message);

    [LoggerMessage(302, LogLevel.Information, "Alert {AlertId} of rule {Rule} for device {DeviceId} cleared: {Message} ({Value})")]
    private static partial void AlertCleared(ILogger logger, long alertId, string rule, string deviceId, string message, double value);

    // Presence alerts end without a value ("back online after 4 min"): printing one would read "((null))".
    [LoggerMessage(305, LogLevel.Information, "Alert {AlertId} of rule {Rule} for device {DeviceId} cleared: {Message}")]
    private static partial void AlertEnded(ILogger logger, long alertId, string rule, string deviceId, string message);

    [LoggerMessage(304, LogLevel.Information, "Alert {AlertId} acknowledged by {By}")]
    private static partial void AlertAcknowledged(ILogger logger, long alertId, string by);

    [LoggerMessage(303, LogLevel.Error, "An AlertChanged observer failed for alert {AlertId}")]
    private static partial void ObserverFailed(ILogger logger, Exception e, long alertId);
}
