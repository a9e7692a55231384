using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Requests;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Readings;

/// <summary>
/// get_devices {cursor}: the GET /api/devices array (every device not revoked, by id), for viewer and up (a device may
/// not list the fleet), paged as get_readings is so that every response fits maxPayloadSize: a response with more
/// left carries a top-level "cursor" to pass back as data.cursor, which holds the last device id given.
/// </summary>
internal sealed class GetDevicesEndpoint(DeviceDirectory directory) : IPagedRequestEndpoint
{
    public string Name => Endpoints.GetDevices;

    public async ValueTask<RequestPage> InvokeAsync(ClientSession session, JsonElement data, int budget, CancellationToken ct)
    {
        if (session.Role is not { } role || !Roles.CanView(role))
            throw new MessageException(ErrorCodes.Forbidden, "get_devices needs a viewer, technician or admin key.");
        var after = PageCursor.Read(data) is { } text ? DevicesCursor.TryParse(text) ?? throw PageCursor.NotOurs() : null;
        var page = new JsonArrayPage(budget);
        string? last = null;
        foreach (var device in directory.Listed(after))
        {
            var json = WireJson.ToBytes(await directory.DescribeAsync(device, ct));
            if (!page.TryAdd(json)) return new RequestPage(page.ToArray(), DevicesCursor.Write(last!));
            last = device.DeviceId;
        }
        return new RequestPage(page.ToArray(), null);
    }
}

/// <summary>Where a paged get_devices goes on: after this device id (ids are ordered ordinally).</summary>
internal static class DevicesCursor
{
    private const string Version = "d1";

    public static string Write(string lastDeviceId) => PageCursor.Encode(Version, lastDeviceId);

    public static string? TryParse(string text) =>
        PageCursor.TryDecode(text, Version, 1) is [var id] && Identity.IdentityStore.IsValidId(id) ? id : null;
}

/// <summary>
/// get_readings {deviceId, from, to, limit, resolution, cursor}: the GET …/readings JSON array, paged so that every
/// response fits maxPayloadSize. Viewer and up read any device; a device may read its own readings only (deviceId
/// omitted means its own). Default limit 1,000, at most 10,000, counted over all pages: each page is the newest part
/// of what is left, oldest first, and a response with more left carries a top-level "cursor" to pass back as
/// data.cursor (the cursor holds the query, so nothing else needs repeating).
/// </summary>
internal sealed class GetReadingsEndpoint(DeviceDirectory directory, IReadingStore store, TimeProvider time) : IPagedRequestEndpoint
{
    public const int DefaultLimit = 1000;
    /// <summary>No reading or bucket takes fewer bytes of JSON: bounds how many rows one page can hold.</summary>
    private const int SmallestRowBytes = 100;

    public string Name => Endpoints.GetReadings;

    public async ValueTask<RequestPage> InvokeAsync(ClientSession session, JsonElement data, int budget, CancellationToken ct)
    {
        var args = data.ValueKind == JsonValueKind.Object ? data : default;
        var named = Text(args, Fields.DeviceId);
        HistoryQuery query;
        ReadingsCursor? cursor = null;
        string deviceId;
        if (PageCursor.Read(args) is { } cursorText)
        {
            cursor = ReadingsCursor.TryParse(cursorText) ?? throw PageCursor.NotOurs();
            if (named is not null && named != cursor.DeviceId)
                throw new MessageException(ErrorCodes.ValidationFailed, $"data.cursor continues the readings of '{cursor.DeviceId}', not of '{named}'.");
            deviceId = cursor.DeviceId;
            query = cursor.Query;
        }
        else
        {
            deviceId = named ?? session.DeviceId ?? throw new MessageException(ErrorCodes.ValidationFailed, "get_readings needs data.deviceId.");
            query = null!;
        }
        if (session.IsDevice ? deviceId != session.DeviceId : session.Role is not { } role || !Roles.CanView(role))
            throw new MessageException(ErrorCodes.Forbidden, session.IsDevice ? "A device may read only its own readings." : "get_readings needs a viewer, technician or admin key.");
        if (cursor is null)
        {
            var limit = args.ValueKind == JsonValueKind.Object && args.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetRawText() : Text(args, "limit");
            if (!HistoryQuery.TryParse(Time(args, "from"), Time(args, "to"), Text(args, "resolution"), limit, time.GetUtcNow(), DefaultLimit, out query, out var error))
                throw new MessageException(ErrorCodes.ValidationFailed, error);
        }
        if (!directory.Exists(deviceId)) throw new MessageException(ErrorCodes.ValidationFailed, $"No device '{deviceId}' is provisioned.");

        var remaining = cursor?.Remaining ?? query.Limit;
        var before = cursor?.Before ?? query.To;
        var skip = cursor?.Skip ?? 0;
        var fetch = Math.Clamp(budget / SmallestRowBytes, 1, remaining);
        var page = query.Resolution == Resolution.Raw
            ? Fit(await store.ReadingsAsync(deviceId, query.From, before, fetch + skip, ct), r => r.Timestamp, HistoryFormat.WriteReading, fetch, skip, cursor, budget)
            : Fit(await store.RollupsAsync(deviceId, query.Resolution, query.From, before, fetch + skip, ct), r => r.Bucket, HistoryFormat.WriteRollup, fetch, skip, cursor, budget);
        var left = remaining - page.Kept;
        var next = page.More && left > 0 ? new ReadingsCursor(deviceId, query, page.Oldest, page.Skip, left).ToString() : null;
        return new RequestPage(page.Json, next);
    }

    private readonly record struct Page(byte[] Json, int Kept, DateTimeOffset Oldest, int Skip, bool More);

    /// <summary>
    /// The newest rows (of <paramref name="rows"/>, oldest first) whose JSON array fits <paramref name="budget"/>, after
    /// dropping the <paramref name="skip"/> rows at the cursor's time that earlier pages already gave.
    /// </summary>
    private static Page Fit<T>(IReadOnlyList<T> rows, Func<T, DateTimeOffset> at, Action<Utf8JsonWriter, T> write, int fetch, int skip, ReadingsCursor? cursor, int budget)
    {
        var end = rows.Count;
        if (cursor is not null)
        {
            // Rows are (time, id) ordered and each page keeps the newest, so those given are the newest at the cursor's time.
            for (var dropped = 0; dropped < skip && end > 0 && at(rows[end - 1]) == cursor.Before; dropped++) end--;
        }
        var start = Math.Max(0, end - fetch);
        var exhausted = rows.Count < fetch + skip;
        var page = new JsonArrayPage(budget);
        var first = end;
        while (first > start && page.TryAdd(rows[first - 1], write)) first--;
        // Added newest first; the page is oldest first.
        var buffer = page.ToArray(reversed: true);
        if (page.Count == 0) return new Page(buffer, 0, default, 0, More: false);

        var oldest = at(rows[first]);
        var atOldest = 0;
        for (var i = first; i < end && at(rows[i]) == oldest; i++) atOldest++;
        var carried = cursor is not null && oldest == cursor.Before ? skip : 0;
        return new Page(buffer, page.Count, oldest, carried + atOldest, More: first > start || !exhausted);
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

/// <summary>
/// Where a paged get_readings goes on: the query, the time of the oldest row given so far, how many rows at that time
/// were given, and how many of the limit are left. Written as base64url text; the client passes it back unchanged.
/// </summary>
internal sealed record ReadingsCursor(string DeviceId, HistoryQuery Query, DateTimeOffset Before, int Skip, int Remaining)
{
    private const string Version = "r1";

    public override string ToString() => PageCursor.Encode(Version,
        DeviceId, Name(Query.Resolution), Ms(Query.From), Ms(Query.To), Ms(Before), Num(Skip), Num(Remaining));

    public static ReadingsCursor? TryParse(string text)
    {
        var parts = PageCursor.TryDecode(text, Version, 7);
        if (parts is null || !Identity.IdentityStore.IsValidId(parts[0])) return null;
        Resolution? resolution = parts[1] switch { "raw" => Resolution.Raw, "1m" => Resolution.Minute, "1h" => Resolution.Hour, _ => null };
        if (resolution is null
            || !TryMs(parts[2], out var from) || !TryMs(parts[3], out var to) || !TryMs(parts[4], out var before)
            || !int.TryParse(parts[5], NumberStyles.None, CultureInfo.InvariantCulture, out var skip)
            || !int.TryParse(parts[6], NumberStyles.None, CultureInfo.InvariantCulture, out var remaining)
            || from > to || before < from || before > to || remaining is < 1 or > HistoryQuery.MaxLimit)
        {
            return null;
        }
        return new ReadingsCursor(parts[0], new HistoryQuery(from, to, resolution.Value, remaining), before, skip, remaining);
    }

    private static string Name(Resolution resolution) => resolution switch
    {
        Resolution.Minute => "1m",
        Resolution.Hour => "1h",
        _ => "raw",
    };

    private static string Ms(DateTimeOffset time) => Num(time.ToUnixTimeMilliseconds());

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static bool TryMs(string text, out DateTimeOffset time)
    {
        time = default;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) return false;
        time = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        return true;
    }
}
