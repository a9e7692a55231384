namespace IotWs.Gateway.Devices;

/// <summary>A device moving between online, stale and offline (published on device_status).</summary>
public sealed record PresenceChange(string DeviceId, string Status, string Reason, DateTimeOffset At);
