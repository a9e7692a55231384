using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Requests;
using IotWs.Gateway.Storage;
using IotWs.Protocol;

namespace IotWs.Gateway.Readings;

/// <summary>get_devices over the WebSocket: the GET /api/devices array, for viewer and up (a device may not list the fleet).</summary>
internal sealed class GetDevicesEndpoint(DeviceDirectory directory) : IRequestEndpoint
{
    public string Name => Endpoints.GetDevices;

    public async ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement data, CancellationToken ct)
    {
        if (session.Role is not { } role || !Roles.CanView(role))
            throw new MessageException(ErrorCodes.Forbidden, "get_devices needs a viewer, technician or admin key.");
        return await directory.ListAsync(ct);
    }
}

/// <summary>
/// get_readings {deviceId, from, to, limit, resolution}: the GET …/readings JSON array. Viewer and up read any device;
/// a device may read its own readings only (deviceId omitted means its own). Default limit 1,000, at most 10,000.
/// </summary>
internal sealed class GetReadingsEndpoint(DeviceDirectory directory, IReadingStore store, TimeProvider time) : IRequestEndpoint
{
    public const int DefaultLimit = 1000;

    public string Name => Endpoints.GetReadings;

    public async ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement data, CancellationToken ct)
    {
        var args = data.ValueKind == JsonValueKind.Object ? data : default;
        var deviceId = Text(args, Fields.DeviceId) ?? session.DeviceId
            ?? throw new MessageException(ErrorCodes.ValidationFailed, "get_readings needs data.deviceId.");
        if (session.IsDevice ? deviceId != session.DeviceId : session.Role is not { } role || !Roles.CanView(role))
            throw new MessageException(ErrorCodes.Forbidden, session.IsDevice ? "A device may read only its own readings." : "get_readings needs a viewer, technician or admin key.");
        var limit = args.ValueKind == JsonValueKind.Object && args.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetRawText() : Text(args, "limit");
        if (!HistoryQuery.TryParse(Time(args, "from"), Time(args, "to"), Text(args, "resolution"), limit, time.GetUtcNow(), DefaultLimit, out var query, out var error))
            throw new MessageException(ErrorCodes.ValidationFailed, error);
        if (!directory.Exists(deviceId)) throw new MessageException(ErrorCodes.ValidationFailed, $"No device '{deviceId}' is provisioned.");
        var bytes = query.Resolution == Resolution.Raw
            ? HistoryFormat.ReadingsJson(await store.ReadingsAsync(deviceId, query.From, query.To, query.Limit, ct))
            : HistoryFormat.RollupsJson(await store.RollupsAsync(deviceId, query.Resolution, query.From, query.To, query.Limit, ct));
        return JsonNode.Parse(bytes);
    }

    private static string? Text(JsonElement args, string name)
    {
        if (args.ValueKind != JsonValueKind.Object || !args.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString()
            : throw new MessageException(ErrorCodes.ValidationFailed, $"data.{name} must be a string.");
    }

    // from/to may be ISO-8601 strings or epoch milliseconds.
    private static string? Time(JsonElement args, string name) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number ? e.GetRawText() : Text(args, name);
}
