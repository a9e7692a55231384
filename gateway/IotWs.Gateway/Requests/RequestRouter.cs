using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Requests;

/// <summary>A gateway endpoint a client can call with a "request" message.</summary>
public interface IRequestEndpoint
{
    string Name { get; }

    /// <summary>Returns the response data; throw MessageException(Forbidden/ValidationFailed, …) to answer success:false.</summary>
    ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement data, CancellationToken ct);
}

/// <summary>
/// A gateway endpoint whose answer can be longer than one message may be: it answers the part that fits
/// <c>budget</c> bytes of data, and a cursor that continues it (issue 12: every reply fits maxPayloadSize).
/// </summary>
public interface IPagedRequestEndpoint
{
    string Name { get; }

    /// <summary>One page: its data as JSON bytes (at most <paramref name="budget"/>) and the cursor of the rest, or null when none is left.</summary>
    ValueTask<RequestPage> InvokeAsync(ClientSession session, JsonElement data, int budget, CancellationToken ct);
}

/// <summary>A page of an answer: the response's data (JSON bytes) and its top-level "cursor" when more is left.</summary>
public sealed record RequestPage(byte[] DataJson, string? Cursor);

/// <summary>
/// Client → gateway "request": routed to the endpoint named, answered with "response" carrying the requestId.
/// (A "response" message is the device answering the gateway's own request: the RPC feature handles it.)
/// </summary>
internal sealed class RequestRouter(IEnumerable<IRequestEndpoint> endpoints, IEnumerable<IPagedRequestEndpoint> pagedEndpoints, Microsoft.Extensions.Options.IOptions<Configuration.GatewayOptions> options) : IMessageHandler
{
    /// <summary>Room kept for a cursor in a paged response (the cursors this gateway writes are far shorter).</summary>
    public const int CursorRoom = 256;
    /// <summary>A page needs room for the largest row (a reading is at most about 2.1 KB); less is refused.</summary>
    public const int MinimumPageBudget = 2560;

    private readonly Dictionary<string, IRequestEndpoint> _endpoints = endpoints.ToDictionary(e => e.Name, StringComparer.Ordinal);
    private readonly Dictionary<string, IPagedRequestEndpoint> _paged = pagedEndpoints.ToDictionary(e => e.Name, StringComparer.Ordinal);

    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Request];

    public async ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var requestId = JsonFields.RequiredString(message, Fields.RequestId);
        var name = JsonFields.RequiredString(message, Fields.Endpoint);
        var data = message.TryGetProperty(Fields.Data, out var d) ? d : default;
        try
        {
            if (_paged.TryGetValue(name, out var paged))
            {
                var budget = options.Value.MaxPayloadSize - EnvelopeBytes(requestId) - CursorRoom;
                if (budget < MinimumPageBudget)
                    throw new MessageException(ErrorCodes.ValidationFailed, $"The answer would not fit maxPayloadSize {options.Value.MaxPayloadSize} (with this requestId of {requestId.Length} characters).");
                var page = await paged.InvokeAsync(session, data, budget, ct);
                SendPage(session, requestId, page);
                return;
            }
            if (!_endpoints.TryGetValue(name, out var endpoint))
            {
                Reply(session, requestId, false, null, Endpoints.Unknown(name));
                return;
            }
            var result = await endpoint.InvokeAsync(session, data, ct);
            Reply(session, requestId, true, result, null);
        }
        catch (MessageException e)
        {
            Reply(session, requestId, false, null, e.Message, e.Code);
        }
    }

    /// <summary>The bytes of a successful response around its data, for this requestId.</summary>
    private static int EnvelopeBytes(string requestId) =>
        WireJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.Response);
            w.WriteString(Fields.RequestId, requestId);
            w.WriteBoolean(Fields.Success, true);
            w.WriteNull(Fields.Data);
            w.WriteString(Fields.Cursor, "");
            w.WriteEndObject();
        }).Length;

    private static void SendPage(ClientSession session, string requestId, RequestPage page) =>
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.Response);
            w.WriteString(Fields.RequestId, requestId);
            w.WriteBoolean(Fields.Success, true);
            w.WritePropertyName(Fields.Data);
            w.WriteRawValue(page.DataJson, skipInputValidation: true);
            if (page.Cursor is not null) w.WriteString(Fields.Cursor, page.Cursor);
            w.WriteEndObject();
        });

    internal static void Reply(ClientSession session, string requestId, bool success, JsonNode? data, string? error, string? code = null) =>
        SendResult(session, MessageTypes.Response, requestId, success, data, error, Fields.Code, code);

    /// <summary>
    /// A correlated answer ("response", "rpc_response"): data on success, otherwise "error" plus one
    /// optional detail field (the two answer kinds name their detail differently).
    /// </summary>
    internal static void SendResult(ClientSession session, string type, string requestId, bool success, JsonNode? data, string? error, string detailName, string? detail) =>
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, type);
            w.WriteString(Fields.RequestId, requestId);
            w.WriteBoolean(Fields.Success, success);
            if (success)
            {
                w.WritePropertyName(Fields.Data);
                WireJson.WriteNode(w, data);
            }
            else
            {
                w.WriteString(Fields.Error, error);
                if (detail is not null) w.WriteString(detailName, detail);
            }
            w.WriteEndObject();
        });
}

/// <summary>get_time: the gateway's clock, for devices without SNTP.</summary>
internal sealed class GetTimeEndpoint(TimeProvider time) : IRequestEndpoint
{
    public string Name => Endpoints.GetTime;

    public ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement data, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return ValueTask.FromResult<JsonNode?>(new JsonObject
        {
            ["serverTime"] = WireJson.Time(now),
            ["epochMs"] = now.ToUnixTimeMilliseconds(),
        });
    }
}

/// <summary>get_config: a device's own settings (the intervals the gateway expects of it).</summary>
internal sealed class GetConfigEndpoint(Microsoft.Extensions.Options.IOptions<Configuration.GatewayOptions> options) : IRequestEndpoint
{
    public string Name => Endpoints.GetConfig;

    public ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement data, CancellationToken ct) =>
        ValueTask.FromResult<JsonNode?>(new JsonObject
        {
            ["deviceId"] = session.DeviceId,
            [Fields.HeartbeatIntervalMs] = (long)session.HeartbeatInterval.TotalMilliseconds,
            [Fields.ReadingIntervalMs] = (long)options.Value.SimulateReadingInterval.TotalMilliseconds,
            ["maxPayloadSize"] = options.Value.MaxPayloadSize,
        });
}
