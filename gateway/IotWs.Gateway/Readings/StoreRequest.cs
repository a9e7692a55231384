namespace IotWs.Gateway.Readings;

/// <summary>What became of one entry of a store request.</summary>
public enum EntryStatus
{
    /// <summary>Waiting for the writer.</summary>
    Pending,
    /// <summary>Committed with a new insert id.</summary>
    Stored,
    /// <summary>Already stored for the same (device, bootId, seq): InsertId is the first one.</summary>
    Duplicate,
    /// <summary>Refused before storage (validation, role); Error and Message say why.</summary>
    Refused,
    /// <summary>The store could not commit it; nothing was stored and the client may send it again.</summary>
    Failed,
}

/// <summary>One sensor reading of a message, validated, on its way to storage; the store fills in its outcome.</summary>
public sealed class ReadingEntry
{
    public required string DeviceId { get; init; }
    public long? BootId { get; init; }
    public long? Seq { get; init; }
    /// <summary>When the reading was taken: the device's time when plausible, else the gateway's receive time.</summary>
    public DateTimeOffset Timestamp { get; init; }
    /// <summary>The device's own timestamp when it was not a plausible wall-clock time (a number, or a string).</summary>
    public object? DeviceTimestamp { get; init; }
    public double Temperature { get; init; }
    public double Humidity { get; init; }
    /// <summary>Plain values, for publishing and the latest-reading cache.</summary>
    public string? SensorId { get; init; }
    public string? Location { get; init; }
    /// <summary>Values as stored: encrypted when named in Gateway:FieldsToEncrypt.</summary>
    public string? StoredSensorId { get; init; }
    public string? StoredLocation { get; init; }
    /// <summary>The reading's other data fields as a JSON object (fields to encrypt already encrypted), or null.</summary>
    public string? StoredExtra { get; init; }

    public EntryStatus Status { get; set; }
    public long InsertId { get; set; }
    /// <summary>Error code of a refused or failed entry (validation_failed, forbidden, internal_error).</summary>
    public string? Error { get; set; }
    public string? Message { get; set; }

    /// <summary>A batch item that failed validation: stored nowhere, answered in its place.</summary>
    public static ReadingEntry Refused(string deviceId, long? seq, string error, string message) =>
        new() { DeviceId = deviceId, Seq = seq, Status = EntryStatus.Refused, Error = error, Message = message };

    public StoredReading ToStoredReading() =>
        new(InsertId, DeviceId, BootId, Seq, Timestamp, Temperature, Humidity, SensorId, Location);
}

/// <summary>A non-sensor data message (dataType application, service, …) stored as a JSON event.</summary>
public sealed class EventEntry
{
    public required string DataType { get; init; }
    public required string ClientId { get; init; }
    public string? DeviceId { get; init; }
    public string? Principal { get; init; }
    public long? BootId { get; init; }
    public long? Seq { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    /// <summary>The message's data as JSON, plain (published) and as stored (fields to encrypt encrypted).</summary>
    public required string DataJson { get; init; }
    public required string StoredDataJson { get; init; }

    public EntryStatus Status { get; set; }
    public long InsertId { get; set; }
    public string? Error { get; set; }
    public string? Message { get; set; }
}

/// <summary>Told when a store request is durable (or failed); called on the store's after-commit stage, must not block.</summary>
public interface IStoreCompletion
{
    void Completed(StoreRequest request);
}

/// <summary>
/// What one protocol message asks the store to do: readings (one, or a batch), an event, or nothing
/// (a refused message still passes through the queue so a connection's replies keep its message order).
/// </summary>
public sealed class StoreRequest
{
    private static readonly ReadingEntry[] NoReadings = [];

    public StoreRequest(ReadingEntry[] readings, bool isBatch, IStoreCompletion completion, object? state)
    {
        Readings = readings;
        IsBatch = isBatch;
        Completion = completion;
        State = state;
    }

    public StoreRequest(EventEntry @event, IStoreCompletion completion, object? state)
    {
        Readings = NoReadings;
        Event = @event;
        Completion = completion;
        State = state;
    }

    public IReadOnlyList<ReadingEntry> Readings { get; }
    public bool IsBatch { get; }
    public EventEntry? Event { get; }
    public IStoreCompletion Completion { get; }
    /// <summary>The caller's context (the connection), handed back on completion.</summary>
    public object? State { get; }
    /// <summary>Queue slots the request takes: one per reading, at least one.</summary>
    public int Weight => Math.Max(1, Readings.Count);
    /// <summary>When (Stopwatch ticks) the connection's previous store request was answered; 0 when none was.</summary>
    public long PreviousAckAt { get; set; }
    /// <summary>Whether the connection's previous store request was queued within the follow window of the ack before it.</summary>
    public bool PreviousFollowedAck { get; set; }
    /// <summary>Queued within <see cref="ReadingWriter.FollowWindow"/> (50 ms, at most one CommitInterval) of its connection's previous ack.</summary>
    internal bool WithinFollowWindow { get; set; }
    /// <summary>
    /// This request and the connection's previous one each came right after an ack: the client paces itself on acks (a
    /// window-1 replay, a full window), so the writer commits it as soon as it is free instead of gathering for the
    /// interval. One such request alone proves nothing: a device on its own clock lands that close to an ack by chance.
    /// </summary>
    internal bool FollowsAck { get; set; }
    /// <summary>Monotonic time (Stopwatch ticks) the request entered the queue.</summary>
    internal long EnqueuedAt { get; set; }
    /// <summary>Whether the request holds anything to write.</summary>
    public bool HasWork => Event is { Status: EntryStatus.Pending } || Readings.Any(r => r.Status == EntryStatus.Pending);

    /// <summary>Marks everything still pending as failed (nothing of this request was committed).</summary>
    public void Fail(string error, string message)
    {
        foreach (var r in Readings)
        {
            if (r.Status is EntryStatus.Pending or EntryStatus.Stored or EntryStatus.Duplicate)
            {
                r.Status = EntryStatus.Failed;
                r.Error = error;
                r.Message = message;
            }
        }
        if (Event is { } e && e.Status != EntryStatus.Refused)
        {
            e.Status = EntryStatus.Failed;
            e.Error = error;
            e.Message = message;
        }
    }
}
