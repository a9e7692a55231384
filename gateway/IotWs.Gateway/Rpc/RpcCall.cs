using System.Text.Json.Nodes;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Rpc;

/// <summary>One status a call went through, and when.</summary>
public sealed record RpcStatusChange(string Status, DateTimeOffset At);

/// <summary>A gateway-to-device call as the audit log keeps it and the REST API and device.call report it.</summary>
public sealed class RpcCall
{
    public required string Id { get; init; }
    public required string DeviceId { get; init; }
    public required string Endpoint { get; init; }
    /// <summary>The parameters sent to the device, as wire JSON text.</summary>
    public required string DataJson { get; init; }
    public required string Status { get; init; }
    /// <summary>The API key's name (or "device:{id}") of whoever made the call.</summary>
    public required string Caller { get; init; }
    public required string Role { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>The device's answer data, as wire JSON text.</summary>
    public string? ResultJson { get; init; }
    public string? Error { get; init; }
    public bool Persistent { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>Round trip from sending the request to the device's answer (or to the timeout or disconnect).</summary>
    public long? DurationMs { get; init; }
    public IReadOnlyList<RpcStatusChange> History { get; init; } = [];

    // Kept in the audit log but not part of the call object on the wire.
    internal long TimeoutMs { get; init; }
    internal string? IdempotencyKey { get; init; }
    internal DateTimeOffset? IdempotentUntil { get; init; }
    internal DateTimeOffset? SentAt { get; init; }
    /// <summary>bootId of the connection that acknowledged a reboot (null when the device never told).</summary>
    internal long? AckBootId { get; init; }
    internal DateTimeOffset? ConfirmDeadline { get; init; }
    /// <summary>The gateway node that sent the call (null on a single gateway).</summary>
    internal string? Node { get; init; }

    /// <summary>The row the audit log stores.</summary>
    internal RpcCallRow ToRow() => new()
    {
        Id = Id, DeviceId = DeviceId, Endpoint = Endpoint, DataJson = DataJson, Status = Status,
        Caller = Caller, Role = Role, CreatedAt = CreatedAt, UpdatedAt = UpdatedAt, CompletedAt = CompletedAt,
        ResultJson = ResultJson, Error = Error, Persistent = Persistent, ExpiresAt = ExpiresAt,
        DurationMs = DurationMs, TimeoutMs = TimeoutMs, IdempotencyKey = IdempotencyKey,
        IdempotentUntil = IdempotentUntil, SentAt = SentAt, AckBootId = AckBootId,
        ConfirmDeadline = ConfirmDeadline, Node = Node, History = History.Select(h => new RpcStatusRow(h.Status, h.At)).ToList(),
    };

    internal static RpcCall FromRow(RpcCallRow r) => new()
    {
        Id = r.Id, DeviceId = r.DeviceId, Endpoint = r.Endpoint, DataJson = r.DataJson, Status = r.Status,
        Caller = r.Caller, Role = r.Role, CreatedAt = r.CreatedAt, UpdatedAt = r.UpdatedAt, CompletedAt = r.CompletedAt,
        ResultJson = r.ResultJson, Error = r.Error, Persistent = r.Persistent, ExpiresAt = r.ExpiresAt,
        DurationMs = r.DurationMs, TimeoutMs = r.TimeoutMs, IdempotencyKey = r.IdempotencyKey,
        IdempotentUntil = r.IdempotentUntil, SentAt = r.SentAt, AckBootId = r.AckBootId,
        ConfirmDeadline = r.ConfirmDeadline, Node = r.Node, History = r.History.Select(h => new RpcStatusChange(h.Status, h.At)).ToList(),
    };

    /// <summary>True once the call will not change any more, or is a reboot the device acknowledged (what POST waits for).</summary>
    public bool IsSettled => Status is not (RpcStatuses.Queued or RpcStatuses.Sent);

    /// <summary>The call object: exactly the fields the dashboard is built against, every one present (null when not applicable).</summary>
    public JsonObject ToJson()
    {
        var history = new JsonArray();
        foreach (var change in History)
        {
            history.Add((JsonNode)new JsonObject { ["status"] = change.Status, ["at"] = WireJson.Time(change.At) });
        }
        return new JsonObject
        {
            ["id"] = Id,
            ["deviceId"] = DeviceId,
            ["endpoint"] = Endpoint,
            ["data"] = JsonNode.Parse(DataJson),
            ["status"] = Status,
            ["caller"] = Caller,
            ["role"] = Role,
            ["createdAt"] = WireJson.Time(CreatedAt),
            ["updatedAt"] = WireJson.Time(UpdatedAt),
            ["completedAt"] = CompletedAt is { } c ? WireJson.Time(c) : null,
            ["result"] = ResultJson is null ? null : JsonNode.Parse(ResultJson),
            ["error"] = Error,
            ["persistent"] = Persistent,
            ["expiresAt"] = ExpiresAt is { } e ? WireJson.Time(e) : null,
            ["durationMs"] = DurationMs,
            ["history"] = history,
        };
    }
}

/// <summary>Who made a call, for the audit log.</summary>
public sealed record RpcCaller(string Principal, string Role);

/// <summary>A call the gateway refuses to make; Code is the rpc_response error and decides the HTTP status.</summary>
public sealed class RpcException(string code, string message) : Exception(message)
{
    public const string NotFound = "not_found";
    public const string IdempotencyConflict = "idempotency_conflict";
    public const string QueueFull = "queue_full";

    public string Code { get; } = code;
}
