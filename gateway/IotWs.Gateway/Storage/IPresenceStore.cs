namespace IotWs.Gateway.Storage;

/// <summary>A device's presence as stored: the last known state, so a restarted gateway still knows it.</summary>
public sealed record PresenceRow(
    string DeviceId,
    string Status,
    DateTimeOffset? StatusSince,
    DateTimeOffset? LastSeen,
    long? BootId,
    TimeSpan HeartbeatInterval,
    string? LastHeartbeatJson);

/// <summary>One stored presence transition.</summary>
public sealed record PresenceTransition(string DeviceId, string Status, string Reason, DateTimeOffset At);

/// <summary>
/// Presence history and last known state per device. Writes are queued (they come from connection read loops,
/// which must not wait for the disk) and committed in batches; reads include everything queued before them.
/// </summary>
public interface IPresenceStore : IDisposable
{
    IReadOnlyList<PresenceRow> LoadAll();

    /// <summary>Queues a transition for history and the device's new state.</summary>
    void RecordChange(PresenceTransition change, PresenceRow state);

    /// <summary>Queues last-seen/heartbeat updates (no transition).</summary>
    void SaveStates(IReadOnlyList<PresenceRow> states);

    void PruneHistory(DateTimeOffset before);

    /// <summary>A device's transitions, newest first.</summary>
    IReadOnlyList<PresenceTransition> History(string deviceId, int limit);

    /// <summary>Commits everything queued so far.</summary>
    void Flush();
}
