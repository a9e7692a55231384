using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Status;

/// <summary>Contributes a section to GET /api/status (readings, MQTT bridge, …).</summary>
public interface IStatusContributor
{
    string Section { get; }
    /// <summary>The section's content; null leaves the section out.</summary>
    JsonNode? Snapshot();
}

/// <summary>Message counters, as rates for /api/status (and as instruments of Observability.GatewayInstruments).</summary>
public sealed class GatewayMetrics
{
    private long _in;
    private long _out;
    private long _lastIn;
    private long _lastOut;
    private long _lastTicks = Stopwatch.GetTimestamp();
    private double _inRate;
    private double _outRate;
    private readonly object _gate = new();

    public long Received() => Interlocked.Read(ref _in);
    public long Sent() => Interlocked.Read(ref _out);

    public void MessageIn() => Interlocked.Increment(ref _in);
    public void MessageOut() => Interlocked.Increment(ref _out);

    /// <summary>Messages per second since the previous call that was at least a second ago.</summary>
    public (double In, double Out) Rates()
    {
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            var seconds = Stopwatch.GetElapsedTime(_lastTicks, now).TotalSeconds;
            if (seconds >= 1)
            {
                var i = Interlocked.Read(ref _in);
                var o = Interlocked.Read(ref _out);
                _inRate = (i - _lastIn) / seconds;
                _outRate = (o - _lastOut) / seconds;
                _lastIn = i;
                _lastOut = o;
                _lastTicks = now;
            }
            return (_inRate, _outRate);
        }
    }
}

/// <summary>The seed's getStatus(): connections by client type, uptime, message rates, database size, and feature sections.</summary>
public sealed class GatewayStatus(ConnectionRegistry registry, GatewayMetrics metrics, IStorageInfo storage, TimeProvider time, IEnumerable<IStatusContributor> contributors)
{
    private readonly DateTimeOffset _started = time.GetUtcNow();

    public JsonObject GetStatus()
    {
        var byType = new Dictionary<string, int>
        {
            [ClientTypes.Microcontroller] = 0,
            [ClientTypes.Application] = 0,
            [ClientTypes.Service] = 0,
        };
        var authenticated = 0;
        foreach (var s in registry.All)
        {
            byType[s.ClientType] = byType.GetValueOrDefault(s.ClientType) + 1;
            if (s.IsAuthenticated) authenticated++;
        }
        var (inRate, outRate) = metrics.Rates();
        var types = new JsonObject();
        foreach (var (k, v) in byType) types[k] = v;
        var status = new JsonObject
        {
            ["uptimeSeconds"] = (long)(time.GetUtcNow() - _started).TotalSeconds,
            ["startedAt"] = Wire.WireJson.Time(_started),
            ["connections"] = new JsonObject
            {
                ["total"] = registry.Count,
                ["authenticated"] = authenticated,
                ["byClientType"] = types,
            },
            ["messageRates"] = new JsonObject
            {
                ["inPerSecond"] = Math.Round(inRate, 1),
                ["outPerSecond"] = Math.Round(outRate, 1),
            },
            ["database"] = storage.Describe(),
        };
        foreach (var c in contributors)
        {
            // A feature that is off may have nothing to say (the cluster on a single Pi): no section then.
            if (c.Snapshot() is { } section) status[c.Section] = section;
        }
        return status;
    }
}

/// <summary>
/// get_status over the WebSocket: the same object as GET /api/status, cut to fit maxPayloadSize. Most of it is a fixed
/// set of counters, but some sections list things that grow with the deployment (the cluster's owner of every connected
/// device, the pubsub listings of up to 100 connections and filters): while the status is too large, the longest such
/// list loses its second half, and a top-level "truncated" names each list cut (as its path) with how many entries it
/// had. GET /api/status, which no message limit applies to, keeps them whole.
/// </summary>
internal sealed class GetStatusEndpoint(GatewayStatus status) : Requests.IPagedRequestEndpoint
{
    public const string Truncated = "truncated";

    public string Name => Endpoints.GetStatus;

    // Viewer and up, as GET /api/status: it names the database path and every connection, which a device has no need of.
    public ValueTask<Requests.RequestPage> InvokeAsync(ClientSession session, JsonElement data, int budget, CancellationToken ct) =>
        session.Role is { } role && Roles.CanView(role)
            ? ValueTask.FromResult(new Requests.RequestPage(Fit(status.GetStatus(), budget), null))
            : throw new MessageException(ErrorCodes.Forbidden, "get_status needs a viewer, technician or admin key.");

    /// <summary>The status as JSON of at most <paramref name="budget"/> bytes (see the class summary).</summary>
    internal static byte[] Fit(JsonObject status, int budget)
    {
        var bytes = WireJson.ToBytes(status);
        if (bytes.Length <= budget) return bytes;
        var truncated = new JsonObject();
        status[Truncated] = truncated;
        while ((bytes = WireJson.ToBytes(status)).Length > budget)
        {
            var longest = Lists(status, 0).Where(l => !ReferenceEquals(l, truncated)).MaxBy(l => WireJson.ToBytes(l).Length)
                ?? throw new MessageException(ErrorCodes.ValidationFailed, $"The status does not fit this gateway's maxPayloadSize even with its lists cut: read GET /api/status.");
            var path = longest.GetPath().TrimStart('$', '.');
            if (!truncated.ContainsKey(path)) truncated[path] = Count(longest);
            Halve(longest);
        }
        return bytes;
    }

    /// <summary>Every non-empty array, and every non-empty object inside a section (a section itself is not a list).</summary>
    private static IEnumerable<JsonNode> Lists(JsonNode node, int depth)
    {
        switch (node)
        {
            case JsonArray array:
                if (array.Count > 0) yield return array;
                foreach (var item in array)
                    if (item is not null) foreach (var list in Lists(item, depth + 1)) yield return list;
                break;
            case JsonObject obj:
                if (depth >= 2 && obj.Count > 0) yield return obj;
                foreach (var (_, value) in obj)
                    if (value is not null) foreach (var list in Lists(value, depth + 1)) yield return list;
                break;
        }
    }

    private static int Count(JsonNode list) => list is JsonArray a ? a.Count : ((JsonObject)list).Count;

    private static void Halve(JsonNode list)
    {
        var keep = Count(list) / 2;
        if (list is JsonArray array)
        {
            while (array.Count > keep) array.RemoveAt(array.Count - 1);
            return;
        }
        var obj = (JsonObject)list;
        foreach (var name in obj.Select(p => p.Key).Skip(keep).ToList()) obj.Remove(name);
    }
}
