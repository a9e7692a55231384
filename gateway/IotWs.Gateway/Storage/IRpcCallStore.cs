namespace IotWs.Gateway.Storage;

/// <summary>One status a stored call went through, and when.</summary>
public sealed record RpcStatusRow(string Status, DateTimeOffset At);

/// <summary>A gateway-to-device call as the audit log stores it.</summary>
public sealed record RpcCallRow
{
    public required string Id { get; init; }
    public required string DeviceId { get; init; }
    public required string Endpoint { get; init; }
    public required string DataJson { get; init; }
    public required string Status { get; init; }
    public required string Caller { get; init; }
    public required string Role { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public string? ResultJson { get; init; }
    public string? Error { get; init; }
    public bool Persistent { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public long? DurationMs { get; init; }
    public long TimeoutMs { get; init; }
    public string? IdempotencyKey { get; init; }
    public DateTimeOffset? IdempotentUntil { get; init; }
    public DateTimeOffset? SentAt { get; init; }
    public long? AckBootId { get; init; }
    public DateTimeOffset? ConfirmDeadline { get; init; }
    /// <summary>The gateway node that sent the call to its device (null on a single gateway, and while queued).</summary>
    public string? Node { get; init; }
    /// <summary>Oldest first.</summary>
    public IReadOnlyList<RpcStatusRow> History { get; init; } = [];
}

/// <summary>What a status transition sets besides the status (null leaves a column as it is).</summary>
public sealed record RpcCallChange(
    string? ResultJson = null,
    string? Error = null,
    long? DurationMs = null,
    bool Completes = false,
    DateTimeOffset? SentAt = null,
    long? AckBootId = null,
    DateTimeOffset? ConfirmDeadline = null,
    string? Node = null);

/// <summary>The deadline a sweep looks at.</summary>
public enum RpcDeadline
{
    None,
    Expiry,
    RebootConfirmation,
}

/// <summary>
/// The RPC audit log and the queue of persistent calls. Every status a call goes through is a history row; status
/// changes are compare-and-set, so a late answer, a timeout, a disconnect and a sweep can race without a call
/// changing twice. Queued calls of a device come out in the order they were inserted.
/// </summary>
public interface IRpcCallStore
{
    /// <summary>Stores a new call with its history so far.</summary>
    void Insert(RpcCallRow call);

    /// <summary>Moves a call from one status to another; false when it was no longer in <paramref name="from"/>.</summary>
    bool Transition(string id, string from, string to, DateTimeOffset now, RpcCallChange change);

    /// <summary>Undoes sent → queued for a request that never left the gateway (drops that 'sent' history row).</summary>
    void RevertToQueued(string id);

    RpcCallRow? Get(string id);

    /// <summary>The audit log, newest first; optionally one device's calls.</summary>
    IReadOnlyList<RpcCallRow> List(string? deviceId, int limit);

    /// <summary>
    /// The newest call of this device with this key whose idempotency window is still open. A call that failed
    /// without ever being sent does not count: nothing ran, so a retry must really try again.
    /// </summary>
    RpcCallRow? FindByIdempotencyKey(string deviceId, string key, DateTimeOffset now);

    /// <summary>The oldest queued, unexpired call of a device.</summary>
    RpcCallRow? NextQueued(string deviceId, DateTimeOffset now);

    int CountQueued(string? deviceId);

    /// <summary>Devices that have calls waiting.</summary>
    IReadOnlyList<string> DevicesWithQueuedCalls();

    /// <summary>Ids of calls in a status, oldest first, optionally of one device and only those whose deadline is due by <paramref name="now"/>.</summary>
    IReadOnlyList<string> IdsInStatus(string status, string? deviceId = null, RpcDeadline due = RpcDeadline.None, DateTimeOffset? now = null);

    /// <summary>
    /// Ids of sent calls of one node (null: calls sent by no named node, as on a single gateway), oldest first;
    /// optionally only those sent before <paramref name="sentBefore"/>.
    /// </summary>
    IReadOnlyList<string> SentIdsOf(string? node, DateTimeOffset? sentBefore = null);

    /// <summary>The named nodes that have calls in 'sent' (the lease owner fails those of nodes that died).</summary>
    IReadOnlyList<string> NodesWithSentCalls();

    /// <summary>Deletes calls created before the cutoff that are finished (with their history); open calls stay whatever their age.</summary>
    int DeleteFinishedBefore(DateTimeOffset cutoff);
}
