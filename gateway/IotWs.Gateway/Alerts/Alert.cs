using System.Text.Json.Nodes;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Alerts;

/// <summary>
/// An alert: raised once when its rule's condition has held long enough, cleared once when it recovers.
/// Message says what was wrong and stays when the alert clears; Resolution says how it ended.
/// </summary>
public sealed record Alert(
    long Id,
    string Rule,
    string Metric,
    string DeviceId,
    string Severity,
    string State,
    string Message,
    double? Value,
    DateTimeOffset RaisedAt,
    DateTimeOffset? ClearedAt)
{
    public const string Active = "active";
    public const string Cleared = "cleared";

    /// <summary>When the condition began (before RaisedAt by the rule's wait): the start of the alert's duration.</summary>
    public DateTimeOffset StartedAt { get; init; } = RaisedAt;
    /// <summary>How many times the condition happened; above 1 for a flapping summary.</summary>
    public int Occurrences { get; init; } = 1;
    /// <summary>How the alert ended ("back online after 4 min"); null while active.</summary>
    public string? Resolution { get; init; }
    public string? AcknowledgedBy { get; init; }
    public DateTimeOffset? AcknowledgedAt { get; init; }

    /// <summary>The alert object as published and listed (see docs/pubsub.md).</summary>
    public JsonObject ToJson() => new()
    {
        ["id"] = Id,
        ["rule"] = Rule,
        [Fields.DeviceId] = DeviceId,
        ["severity"] = Severity,
        ["state"] = State,
        [Fields.Message] = Message,
        ["value"] = Value,
        ["raisedAt"] = WireJson.Time(RaisedAt),
        ["clearedAt"] = ClearedAt is { } c ? WireJson.Time(c) : null,
        ["startedAt"] = WireJson.Time(StartedAt),
        ["durationSeconds"] = ClearedAt is { } end ? Math.Round((end - StartedAt).TotalSeconds) : null,
        ["occurrences"] = Occurrences,
        ["resolution"] = Resolution,
        ["acknowledgedBy"] = AcknowledgedBy,
        ["acknowledgedAt"] = AcknowledgedAt is { } a ? WireJson.Time(a) : null,
    };

    /// <summary>The row storage keeps.</summary>
    public AlertRow ToRow() => new(Id, Rule, Metric, DeviceId, Severity, State, Message, Value, RaisedAt, ClearedAt,
        StartedAt, Occurrences, Resolution, AcknowledgedBy, AcknowledgedAt);

    public static Alert FromRow(AlertRow r) => new(r.Id, r.Rule, r.Metric, r.DeviceId, r.Severity, r.State, r.Message, r.Value, r.RaisedAt, r.ClearedAt)
    {
        StartedAt = r.StartedAt,
        Occurrences = r.Occurrences,
        Resolution = r.Resolution,
        AcknowledgedBy = r.AcknowledgedBy,
        AcknowledgedAt = r.AcknowledgedAt,
    };
}
