using IotWs.Gateway.Readings;

namespace IotWs.Gateway.Storage;

/// <summary>Time resolution of a history query: raw readings, or one-minute / one-hour rollups.</summary>
public enum Resolution
{
    Raw,
    Minute,
    Hour,
}

/// <summary>A stored reading as history returns it (fields decrypted).</summary>
public sealed record ReadingRow(
    long InsertId,
    string DeviceId,
    long? Seq,
    long? BootId,
    DateTimeOffset Timestamp,
    object? DeviceTimestamp,
    double Temperature,
    double Humidity,
    string? SensorId,
    string? Location);

/// <summary>Count, min, max and average of each metric over one bucket of one device.</summary>
public sealed record RollupRow(
    DateTimeOffset Bucket,
    long Count,
    double TemperatureMin,
    double TemperatureMax,
    double TemperatureAvg,
    double HumidityMin,
    double HumidityMax,
    double HumidityAvg);

/// <summary>What a retention sweep deleted.</summary>
public sealed record RetentionResult(long Readings, long Events, long MinuteRollups, long HourRollups);

/// <summary>Expiry limits of a retention sweep: rows dated before these instants go (null keeps that kind forever).</summary>
public sealed record RetentionCutoffs(DateTimeOffset? Raw, DateTimeOffset? Minute, DateTimeOffset? Hour);

/// <summary>
/// Where readings and events live. One writer thread calls <see cref="Commit"/> with a group of requests;
/// queries run concurrently from any thread. SQLite is the default implementation; a PostgreSQL one can
/// implement the same contract (a unique key on (device, boot, seq) gives it the duplicate check).
/// </summary>
public interface IReadingStore
{
    /// <summary>Prepares storage before the first commit (crash recovery, counters). Called once, on the writer thread.</summary>
    void Open();

    /// <summary>
    /// Stores every pending entry of the requests in ONE durable transaction, setting each entry's status
    /// (Stored with a new insert id, or Duplicate with the first one). Throws when nothing could be committed;
    /// then no entry was stored and the store is ready to try again.
    /// </summary>
    void Commit(IReadOnlyList<StoreRequest> requests);

    /// <summary>Finishes deferred work before shutdown (so the next start has nothing to recover). Writer thread.</summary>
    void Flush();

    /// <summary>Insert id of the newest reading ever stored (0 when none): the number of readings stored.</summary>
    long LastReadingId { get; }

    /// <summary>The device's newest reading by timestamp, or null.</summary>
    Task<ReadingRow?> LatestAsync(string deviceId, CancellationToken ct);

    /// <summary>
    /// The highest bootId among the device's stored readings, or null when none carries one. auth_response
    /// tells it to the device as lastBootId, so a board whose flash was wiped boots above it.
    /// </summary>
    Task<long?> HighestBootIdAsync(string deviceId, CancellationToken ct);

    /// <summary>Raw readings of a device with from ≤ timestamp ≤ to: the newest <paramref name="limit"/>, oldest first.</summary>
    Task<IReadOnlyList<ReadingRow>> ReadingsAsync(string deviceId, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct);

    /// <summary>Rollup buckets of a device starting in [from, to]: the newest <paramref name="limit"/>, oldest first.</summary>
    Task<IReadOnlyList<RollupRow>> RollupsAsync(string deviceId, Resolution resolution, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct);

    /// <summary>Deletes what expired, in short transactions that let the writer in between.</summary>
    Task<RetentionResult> DeleteExpiredAsync(RetentionCutoffs cutoffs, CancellationToken ct);
}
