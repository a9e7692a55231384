using System.Globalization;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Readings;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Alerts;

/// <summary>
/// Judges the configured rules against stored readings and presence changes. Each (rule, device) pair
/// is a small state machine: pending while the condition holds for less than the rule's duration,
/// active once raised (published once), cleared once the value is back past the hysteresis
/// (published once). Time is the registered TimeProvider's.
/// </summary>
public sealed partial class AlertEvaluator : IHostedService, IDisposable
{
    /// <summary>One rule applied to one device.</summary>
    private sealed class Condition
    {
        public DateTimeOffset? PendingSince { get; set; }
        public string? PendingReason { get; set; }
        public Alert? Active { get; set; }
    }

    private const string GatewaySource = "gateway";

    private readonly AlertOptions _options;
    private readonly GatewayEvents _events;
    private readonly ITopicBroker _broker;
    private readonly AlertStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<AlertEvaluator> _logger;
    private readonly Dictionary<(string Rule, string DeviceId), Condition> _conditions = [];
    // Rule evaluation is a few comparisons: one lock keeps raise/clear decisions and their publishing in order.
    private readonly object _gate = new();
    private ITimer? _timer;
    private bool _disposed;

    public AlertEvaluator(IOptions<AlertOptions> options, GatewayEvents events, ITopicBroker broker, AlertStore store, TimeProvider time, ILogger<AlertEvaluator> logger)
    {
        _options = options.Value;
        _events = events;
        _broker = broker;
        _store = store;
        _time = time;
        _logger = logger;

        // Alerts active before a restart stay active (and are not raised again); those of a rule that no
        // longer exists are closed.
        var rules = Rules.ToDictionary(r => r.Name, StringComparer.Ordinal);
        foreach (var alert in store.Active())
        {
            if (rules.ContainsKey(alert.Rule))
            {
                _conditions[(alert.Rule, alert.DeviceId)] = new Condition { Active = alert };
            }
            else
            {
                store.Save(alert with { State = Alert.Cleared, ClearedAt = time.GetUtcNow(), Message = alert.Message + " (cleared: rule removed from configuration)" });
            }
        }

        if (_options.Enabled)
        {
            events.ReadingStored += OnReading;
            events.PresenceChanged += OnPresence;
        }
    }

    /// <summary>Raised after an alert is raised or cleared (for bridges and the switchboard).</summary>
    public event Action<Alert>? AlertChanged;

    public IReadOnlyList<AlertRule> Rules => _options.Enabled ? _options.Rules : [];

    public int ActiveCount
    {
        get { lock (_gate) return _conditions.Values.Count(c => c.Active is not null); }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Enabled && Rules.Any(r => r.Metric == AlertMetrics.Offline && r.Duration > TimeSpan.Zero))
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

    /// <summary>Offline rules: pending from the offline change, cleared when the device is online again.</summary>
    public void OnPresence(PresenceChange change)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var rule in Rules)
            {
                if (rule.Metric != AlertMetrics.Offline || !rule.AppliesTo(change.DeviceId)) continue;
                var condition = ConditionOf(rule, change.DeviceId);
                if (change.Status == PresenceStates.Offline)
                {
                    if (condition.Active is not null) continue;
                    condition.PendingSince ??= change.At;
                    condition.PendingReason = change.Reason;
                    if (now - condition.PendingSince >= rule.Duration)
                    {
                        Raise(rule, change.DeviceId, null, $"{change.DeviceId} is offline ({change.Reason})", now);
                        condition.PendingSince = null;
                    }
                }
                else if (change.Status == PresenceStates.Online)
                {
                    condition.PendingSince = null;
                    if (condition.Active is { } active) Clear(condition, active, $"{change.DeviceId} is back online", null, now);
                }
            }
        }
    }

    /// <summary>Raises offline alerts whose duration has passed; runs on the timer.</summary>
    public void Check()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var rule in Rules)
            {
                if (rule.Metric != AlertMetrics.Offline) continue;
                foreach (var ((ruleName, deviceId), condition) in _conditions)
                {
                    if (ruleName != rule.Name || condition.Active is not null || condition.PendingSince is not { } since) continue;
                    if (now - since < rule.Duration) continue;
                    Raise(rule, deviceId, null, $"{deviceId} is offline ({condition.PendingReason}) for {Describe(rule.Duration)}", now);
                    condition.PendingSince = null;
                }
            }
        }
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
                Clear(condition, active, $"{deviceId}: {rule.Metric} {Number(value)}{unit} is back {(above ? "at or below" : "at or above")} {Number(bound)}{unit}", value, now);
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
        if (now - condition.PendingSince >= rule.Duration)
        {
            var held = rule.Duration > TimeSpan.Zero ? $" for {Describe(rule.Duration)}" : "";
            Raise(rule, deviceId, value, $"{deviceId}: {rule.Metric} {Number(value)}{unit} {rule.Comparison} {Number(rule.Threshold)}{unit}{held}", now);
            condition.PendingSince = null;
        }
    }

    private Condition ConditionOf(AlertRule rule, string deviceId)
    {
        if (!_conditions.TryGetValue((rule.Name, deviceId), out var condition))
        {
            condition = new Condition();
            _conditions[(rule.Name, deviceId)] = condition;
        }
        return condition;
    }

    private void Raise(AlertRule rule, string deviceId, double? value, string message, DateTimeOffset now)
    {
        var alert = new Alert(_store.NextId(), rule.Name, rule.Metric, deviceId, rule.Severity, Alert.Active, message, value, now, null);
        ConditionOf(rule, deviceId).Active = alert;
        AlertRaised(_logger, alert.Id, rule.Name, deviceId, message);
        Announce(alert);
    }

    private void Clear(Condition condition, Alert active, string message, double? value, DateTimeOffset now)
    {
        condition.Active = null;
        // The alert keeps the value that raised it; the clearing value is in the message.
        var cleared = active with { State = Alert.Cleared, ClearedAt = now, Message = message };
        AlertCleared(_logger, cleared.Id, cleared.Rule, cleared.DeviceId, message, value);
        Announce(cleared);
    }

    private void Announce(Alert alert)
    {
        _store.Save(alert);
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

    private static string Describe(TimeSpan duration) =>
        duration.TotalMinutes >= 1 && duration.Seconds == 0 ? $"{duration.TotalMinutes:0.##} min" : $"{duration.TotalSeconds:0.##} s";

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _events.ReadingStored -= OnReading;
        _events.PresenceChanged -= OnPresence;
        _timer?.Dispose();
    }

    [LoggerMessage(301, LogLevel.Warning, "Alert {AlertId} raised by rule {Rule} for device {DeviceId}: {Message}")]
    private static partial void AlertRaised(ILogger logger, long alertId, string rule, string deviceId, string message);

    [LoggerMessage(302, LogLevel.Information, "Alert {AlertId} of rule {Rule} for device {DeviceId} cleared: {Message} ({Value})")]
    private static partial void AlertCleared(ILogger logger, long alertId, string rule, string deviceId, string message, double? value);

    [LoggerMessage(303, LogLevel.Error, "An AlertChanged observer failed for alert {AlertId}")]
    private static partial void ObserverFailed(ILogger logger, Exception e, long alertId);
}
