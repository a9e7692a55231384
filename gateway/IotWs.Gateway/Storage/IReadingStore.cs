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

/// <summary>A reading to store, as storage receives it (fields named in Gateway:FieldsToEncrypt already encrypted).</summary>
public readonly record struct ReadingWrite(
    string DeviceId,
    long? BootId,
    long? Seq,
    DateTimeOffset Timestamp,
    object? DeviceTimestamp,
    double Temperature,
    double Humidity,
    string? SensorId,
    string? Location,
    string? Extra);

/// <summary>A non-sensor data message to store as a JSON event.</summary>
public readonly record struct EventWrite(
    DateTimeOffset Timestamp,
    string DataType,
    string ClientId,
    string? Principal,
    string? DeviceId,
    long? BootId,
    long? Seq,
    string DataJson);

/// <summary>What became of one reading of a commit: stored with a new insert id, or a duplicate answered with the first one.</summary>
public readonly record struct WriteOutcome(long InsertId, bool Duplicate);

/// <summary>
/// The rows of one commit and, once <see cref="IReadingStore.Commit"/> returned, their outcomes: one per reading and
/// one event id per event, in the order they were added. Reused from commit to commit by the writer thread.
/// </summary>
public sealed class WriteBatch
{
    public List<ReadingWrite> Readings { get; } = [];
    public List<EventWrite> Events { get; } = [];
    public List<WriteOutcome> ReadingOutcomes { get; } = [];
    public List<long> EventIds { get; } = [];

    public void Clear()
    {
        Readings.Clear();
        Events.Clear();
        ReadingOutcomes.Clear();
        EventIds.Clear();
    }
}

/// <summary>
/// Where readings and events live. One writer thread calls <see cref="Commit"/> with a group of requests;
/// queries run concurrently from any thread. Implementations: Storage/Sqlite (the default) and Storage/Postgres,
/// held to the same behaviour by one contract test suite.
/// </summary>
public interface IReadingStore
{
    /// <summary>Prepares storage before the first commit (crash recovery, counters). Called once, on the writer thread.</summary>
    void Open();

    /// <summary>
    /// Stores every reading and event of the batch in ONE durable transaction and fills in the batch's outcomes
    /// (a reading whose (device, bootId, seq) is already stored, or earlier in the batch, is a duplicate answered
    /// with the first insert id). Throws when nothing could be committed; then nothing was stored, the outcomes
    /// are empty and the store is ready to try again.
    /// </summary>
    void Commit(WriteBatch batch);

    /// <summary>Finishes deferred work before shutdown (so the next start has nothing to recover). Writer thread.</summary>
    void Flush();

    /// <summary>Insert id of the newest reading ever stored (0 when none); on SQLite also the number of readings stored.</summary>
    long LastReadingId { get; }

    /// <summary>Index entries held in memory for a later, sorted write (SQLite); 0 where the database indexes at once.</summary>
    int PendingIndexEntries => 0;

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

/// <summary>Turns a stored field value back into plain text (the readings feature's field encryption); history rows are read through it.</summary>
public interface IStoredFieldReader
{
    string? Unprotect(string? stored);
}
