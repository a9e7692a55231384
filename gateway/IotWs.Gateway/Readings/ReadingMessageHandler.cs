using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Readings;

/// <summary>
/// "data" and "sensor_data": validates, queues for the writer and answers with data_response after commit.
/// The handler returns once the message is queued (not committed), so a device can keep a window of
/// unacknowledged readings; it waits only when the queue is full, which pauses this connection's reads.
/// Every message gets exactly one data_response, in message order (refusals pass through the queue too).
/// </summary>
internal sealed class ReadingMessageHandler(ReadingParser parser, ReadingWriter writer, TimeProvider time, ILogger<ReadingMessageHandler> logger)
    : IMessageHandler, IStoreCompletion
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Data, MessageTypes.SensorData];

    public async ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var request = session.MayWrite() ? parser.Parse(message, session, time.GetUtcNow(), this) : Refused(session, message);
        request.PreviousAckAt = session.LastAckAt;
        request.PreviousFollowedAck = session.FollowedAck;
        try
        {
            await writer.EnqueueAsync(request, ct);
            // A connection's messages are handled one after another: its next request reads this before it is queued.
            session.FollowedAck = request.WithinFollowWindow;
        }
        catch (StoreClosedException)
        {
            ReadingsLog.Closed(logger, session.ClientId, session.Principal ?? "not authenticated");
            request.Fail(ErrorCodes.InternalError, "The gateway is shutting down: nothing was stored, send it again after reconnecting.");
            Completed(request);
        }
    }

    /// <summary>A viewer's data message: answered forbidden in message order, stored and published nowhere.</summary>
    private StoreRequest Refused(ClientSession session, JsonElement message)
    {
        long? seq = message.TryGetProperty(Fields.Seq, out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) ? n : null;
        return new StoreRequest([ReadingEntry.Refused(session.DeviceId ?? "", seq, ErrorCodes.Forbidden, session.WriteRefusal("data"))], isBatch: false, this, session);
    }

    public void Completed(StoreRequest request)
    {
        if (request.State is not ClientSession session) return;
        // Before the send: a client on loopback answers the ack with its next reading before Send returns.
        session.LastAckAt = System.Diagnostics.Stopwatch.GetTimestamp();
        session.Send(request, static (w, r) => Write(w, r));
        foreach (var r in request.Readings)
        {
            if (r.Status == EntryStatus.Refused) ReadingsLog.Refused(logger, session.Principal ?? "not authenticated", session.ClientId, r.Seq is { } seq ? "seq " + seq : "without seq", r.Message ?? "");
        }
    }

    /// <summary>The data_response of a request: one result, or results[] for a batch.</summary>
    internal static void Write(Utf8JsonWriter w, StoreRequest request)
    {
        w.WriteStartObject();
        w.WriteString(Fields.Type, MessageTypes.DataResponse);
        if (request.IsBatch)
        {
            // The batch itself was processed; each reading's outcome is in results, in order.
            w.WriteBoolean(Fields.Success, true);
            w.WriteStartArray(Fields.Results);
            foreach (var r in request.Readings)
            {
                w.WriteStartObject();
                WriteOutcome(w, r.Status, r.Seq, r.InsertId, null, r.Error, r.Message, inBatch: true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        else if (request.Event is { } e)
        {
            WriteOutcome(w, e.Status, e.Seq, e.InsertId, e.Timestamp, e.Error, e.Message, inBatch: false);
        }
        else
        {
            var r = request.Readings[0];
            WriteOutcome(w, r.Status, r.Seq, r.InsertId, r.Timestamp, r.Error, r.Message, inBatch: false);
        }
        w.WriteEndObject();
    }

    private static void WriteOutcome(Utf8JsonWriter w, EntryStatus status, long? seq, long insertId, DateTimeOffset? timestamp, string? error, string? message, bool inBatch)
    {
        switch (status)
        {
            case EntryStatus.Stored:
                if (!inBatch) w.WriteBoolean(Fields.Success, true);
                if (seq is { } s1) w.WriteNumber(Fields.Seq, s1);
                w.WriteNumber(Fields.InsertId, insertId);
                if (!inBatch && timestamp is { } ts) w.WriteString(Fields.Timestamp, WireJson.Time(ts));
                break;
            case EntryStatus.Duplicate:
                if (!inBatch) w.WriteBoolean(Fields.Success, true);
                if (seq is { } s2) w.WriteNumber(Fields.Seq, s2);
                w.WriteBoolean(Fields.Duplicate, true);
                w.WriteNumber(Fields.InsertId, insertId);
                break;
            default:
                if (!inBatch) w.WriteBoolean(Fields.Success, false);
                if (seq is { } s3) w.WriteNumber(Fields.Seq, s3);
                w.WriteString(Fields.Error, error ?? ErrorCodes.InternalError);
                w.WriteString(Fields.Message, message ?? "not stored");
                break;
        }
    }
}
