namespace IotWs.Gateway.Storage;

/// <summary>An alert as stored.</summary>
public sealed record AlertRow(
    long Id,
    string Rule,
    string Metric,
    string DeviceId,
    string Severity,
    string State,
    string Message,
    double? Value,
    DateTimeOffset RaisedAt,
    DateTimeOffset? ClearedAt,
    DateTimeOffset StartedAt,
    int Occurrences,
    string? Resolution,
    string? AcknowledgedBy,
    DateTimeOffset? AcknowledgedAt);

/// <summary>
/// Alerts. Ids come from <see cref="NextId"/> before the row is written, so an alert can be published at once;
/// saves are queued and committed in the background, reads include everything saved before them.
/// </summary>
public interface IAlertStore : IDisposable
{
    /// <summary>A new alert id, never given out before (by any gateway sharing the database).</summary>
    long NextId();

    /// <summary>Inserts, or updates by id (state, message, clearing, occurrences, resolution, acknowledgement), in the background.</summary>
    void Save(AlertRow alert);

    /// <summary>Newest first; state and device optional.</summary>
    IReadOnlyList<AlertRow> List(string? state, string? deviceId, int limit);

    AlertRow? Get(long id);

    /// <summary>Commits everything saved so far.</summary>
    void Flush();
}
