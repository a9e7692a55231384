using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Alerts;

/// <summary>Settings of section "Gateway:Alerts": the rules (defaults when none are configured).</summary>
public sealed class AlertOptions
{
    public const string Section = "Gateway:Alerts";

    /// <summary>False turns alerting off entirely (an empty rule list means "use the defaults").</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Configured as Gateway:Alerts:Rules:0:Name=…, Gateway__Alerts__Rules__0__Metric=…, or a JSON array in appsettings.json.</summary>
    public List<AlertRule> Rules { get; set; } = [];

    /// <summary>How often offline-duration rules are looked at (reading rules are judged on each reading).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a device may be offline before an offline rule without its own Duration raises (WiFi blips raise nothing).</summary>
    public TimeSpan OfflineGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>A device that goes offline FlapThreshold times within FlapWindow is flapping: one alert summarises it.</summary>
    public int FlapThreshold { get; set; } = 4;

    /// <summary>The window flapping is counted in; a flapping alert clears once the device has stayed online this long.</summary>
    public TimeSpan FlapWindow { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Sensor health is judged over this window (failed reads against all reads), not since boot.</summary>
    public TimeSpan SensorWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Above this share of failed reads in SensorWindow the sensor is flagged (0.05 = 5 %).</summary>
    public double SensorFailureRate { get; set; } = 0.05;

    /// <summary>Fewer failed reads than this in SensorWindow never flag a sensor (one bad read of a quiet device is not 100 %).</summary>
    public int SensorMinFailures { get; set; } = 3;

    /// <summary>The rules used when none are configured.</summary>
    public static IReadOnlyList<AlertRule> Defaults() =>
    [
        new AlertRule
        {
            Name = "high-temperature",
            Metric = AlertMetrics.Temperature,
            Comparison = AlertComparisons.Above,
            Threshold = 30,
            Duration = TimeSpan.FromMinutes(1),
            Hysteresis = 0.5,
            Severity = AlertSeverities.Warning,
        },
        new AlertRule
        {
            Name = "device-offline",
            Metric = AlertMetrics.Offline,
            Severity = AlertSeverities.Warning,
            // No Duration: OfflineGrace applies.
        },
    ];
}

/// <summary>One alert rule: "metric comparison threshold for duration", cleared past the hysteresis.</summary>
public sealed class AlertRule
{
    public string Name { get; set; } = "";
    /// <summary>temperature, humidity or offline.</summary>
    public string Metric { get; set; } = "";
    /// <summary>above or below (ignored for offline).</summary>
    public string Comparison { get; set; } = AlertComparisons.Above;
    public double Threshold { get; set; }
    /// <summary>How long the condition must hold before the alert is raised (zero: at once; unset: at once, or OfflineGrace for offline rules).</summary>
    public TimeSpan? Duration { get; set; }
    /// <summary>How far back past the threshold a value must go to clear the alert (same unit as the metric).</summary>
    public double Hysteresis { get; set; }
    public string Severity { get; set; } = AlertSeverities.Warning;
    /// <summary>Only this device; empty for every device.</summary>
    public string? DeviceId { get; set; }

    public bool AppliesTo(string deviceId) => string.IsNullOrEmpty(DeviceId) || DeviceId == deviceId;

    /// <summary>The wait before raising: Duration, or for an offline rule without one the configured grace.</summary>
    public TimeSpan WaitFor(AlertOptions options) => Duration ?? (Metric == AlertMetrics.Offline ? options.OfflineGrace : TimeSpan.Zero);
}

public static class AlertMetrics
{
    public const string Temperature = "temperature";
    public const string Humidity = "humidity";
    public const string Offline = "offline";
}

public static class AlertComparisons
{
    public const string Above = "above";
    public const string Below = "below";
}

public static class AlertSeverities
{
    public const string Info = "info";
    public const string Warning = "warning";
    public const string Critical = "critical";
}

/// <summary>Fills in the default rules when none are configured.</summary>
internal sealed class AlertDefaults : IPostConfigureOptions<AlertOptions>
{
    public void PostConfigure(string? name, AlertOptions options)
    {
        if (options.Rules.Count == 0) options.Rules.AddRange(AlertOptions.Defaults());
    }
}

/// <summary>Stops the gateway at start on a rule it could not evaluate.</summary>
internal sealed class AlertOptionsValidator : IValidateOptions<AlertOptions>
{
    public ValidateOptionsResult Validate(string? name, AlertOptions o)
    {
        var errors = new List<string>();
        if (o.CheckInterval <= TimeSpan.Zero || o.CheckInterval > TimeSpan.FromMinutes(1))
            errors.Add($"{AlertOptions.Section}:CheckInterval must be positive and at most 00:01:00 (got {o.CheckInterval}).");
        if (o.OfflineGrace < TimeSpan.Zero) errors.Add($"{AlertOptions.Section}:OfflineGrace must be zero or positive (got {o.OfflineGrace}).");
        if (o.FlapThreshold < 2) errors.Add($"{AlertOptions.Section}:FlapThreshold must be at least 2 (got {o.FlapThreshold}).");
        if (o.FlapWindow <= TimeSpan.Zero) errors.Add($"{AlertOptions.Section}:FlapWindow must be positive (got {o.FlapWindow}).");
        if (o.SensorWindow <= TimeSpan.Zero) errors.Add($"{AlertOptions.Section}:SensorWindow must be positive (got {o.SensorWindow}).");
        if (!(o.SensorFailureRate is >= 0 and <= 1)) errors.Add($"{AlertOptions.Section}:SensorFailureRate must be between 0 and 1 (got {o.SensorFailureRate}).");
        if (o.SensorMinFailures < 1) errors.Add($"{AlertOptions.Section}:SensorMinFailures must be at least 1 (got {o.SensorMinFailures}).");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Rules.Count; i++)
        {
            var r = o.Rules[i];
            var key = $"{AlertOptions.Section}:Rules:{i}";
            if (string.IsNullOrWhiteSpace(r.Name)) errors.Add($"{key}:Name is required.");
            else if (!names.Add(r.Name)) errors.Add($"{key}:Name '{r.Name}' is used by two rules.");
            if (r.Metric is not (AlertMetrics.Temperature or AlertMetrics.Humidity or AlertMetrics.Offline))
                errors.Add($"{key}:Metric must be temperature, humidity or offline (got '{r.Metric}').");
            if (r.Metric != AlertMetrics.Offline)
            {
                if (r.Comparison is not (AlertComparisons.Above or AlertComparisons.Below))
                    errors.Add($"{key}:Comparison must be above or below (got '{r.Comparison}').");
                if (!double.IsFinite(r.Threshold)) errors.Add($"{key}:Threshold must be a number.");
                if (!double.IsFinite(r.Hysteresis) || r.Hysteresis < 0) errors.Add($"{key}:Hysteresis must be zero or positive (got {r.Hysteresis}).");
            }
            if (r.Duration < TimeSpan.Zero) errors.Add($"{key}:Duration must be zero or positive (got {r.Duration}).");
            if (r.Severity is not (AlertSeverities.Info or AlertSeverities.Warning or AlertSeverities.Critical))
                errors.Add($"{key}:Severity must be info, warning or critical (got '{r.Severity}').");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
