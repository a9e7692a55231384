using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Devices;

/// <summary>Settings of section "Gateway:Presence". Stale and offline thresholds come from each device's heartbeat interval.</summary>
public sealed class PresenceOptions
{
    public const string Section = "Gateway:Presence";

    /// <summary>How often silent devices are looked for; bounds how late a stale/offline change can be.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often lastSeen and heartbeat metrics are written to disk (state changes are written at once).</summary>
    public TimeSpan LastSeenFlushInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long presence history is kept; zero keeps it forever.</summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.FromDays(90);
}

internal sealed class PresenceOptionsValidator : IValidateOptions<PresenceOptions>
{
    public ValidateOptionsResult Validate(string? name, PresenceOptions o)
    {
        var errors = new List<string>();
        if (o.CheckInterval <= TimeSpan.Zero || o.CheckInterval > TimeSpan.FromSeconds(10))
            errors.Add($"{PresenceOptions.Section}:CheckInterval must be positive and at most 00:00:10 (got {o.CheckInterval}).");
        if (o.LastSeenFlushInterval <= TimeSpan.Zero)
            errors.Add($"{PresenceOptions.Section}:LastSeenFlushInterval must be positive (got {o.LastSeenFlushInterval}).");
        if (o.HistoryRetention < TimeSpan.Zero)
            errors.Add($"{PresenceOptions.Section}:HistoryRetention must be zero (forever) or positive (got {o.HistoryRetention}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
