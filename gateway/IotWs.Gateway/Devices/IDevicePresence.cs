using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Protocol;

namespace IotWs.Gateway.Devices;

/// <summary>What the gateway knows of a device's liveness right now.</summary>
public sealed record PresenceSnapshot(
    string DeviceId,
    string Status,
    DateTimeOffset? StatusSince,
    DateTimeOffset? LastSeen,
    long? BootId,
    JsonObject? LastHeartbeat);

/// <summary>Device presence as the REST API and RPC see it (the presence feature provides the real tracker).</summary>
public interface IDevicePresence
{
    PresenceSnapshot Get(string deviceId);

    /// <summary>Newest first.</summary>
    IReadOnlyList<PresenceChange> History(string deviceId, int limit);
}

/// <summary>Connection-only presence: online while connected, otherwise unknown. Replaced by the presence tracker.</summary>
internal sealed class ConnectionPresence(ConnectionRegistry registry) : IDevicePresence
{
    public PresenceSnapshot Get(string deviceId)
    {
        var session = registry.FindDevice(deviceId);
        return session is null
            ? new PresenceSnapshot(deviceId, "unknown", null, null, null, null)
            : new PresenceSnapshot(deviceId, PresenceStates.Online, session.ConnectedAt, session.LastSeen, session.BootId, null);
    }

    public IReadOnlyList<PresenceChange> History(string deviceId, int limit) => [];
}
