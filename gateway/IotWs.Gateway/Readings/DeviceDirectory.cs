using System.Text.Json.Nodes;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Readings;

/// <summary>
/// The device objects of GET /api/devices and get_devices: identity (name, location), presence (status, heartbeat)
/// and the latest reading, in the shape the dashboard is built against.
/// </summary>
public sealed class DeviceDirectory(IdentityStore identities, IDevicePresence presence, LatestReadings latest)
{
    /// <summary>How many presence changes GET /api/devices/{id} returns.</summary>
    public const int PresenceHistoryLimit = 50;

    /// <summary>Every device that is not revoked, by id.</summary>
    public async Task<JsonArray> ListAsync(CancellationToken ct)
    {
        var list = new JsonArray();
        foreach (var device in Listed(null)) list.Add((JsonNode)await DescribeAsync(device, ct));
        return list;
    }

    /// <summary>The devices <see cref="ListAsync"/> lists, in ordinal id order, after <paramref name="afterDeviceId"/> when given.</summary>
    public IEnumerable<DeviceRecord> Listed(string? afterDeviceId) =>
        identities.ListDevices()
            .Where(d => !d.Revoked && (afterDeviceId is null || string.CompareOrdinal(d.DeviceId, afterDeviceId) > 0))
            .OrderBy(d => d.DeviceId, StringComparer.Ordinal);

    /// <summary>One device as <see cref="ListAsync"/> shows it.</summary>
    public Task<JsonObject> DescribeAsync(DeviceRecord device, CancellationToken ct) => DescribeAsync(device, false, ct);

    /// <summary>One device (revoked ones too, for their history) with its presence history; null when unknown.</summary>
    public async Task<JsonObject?> FindAsync(string deviceId, CancellationToken ct)
    {
        var device = identities.FindDevice(deviceId);
        return device is null ? null : await DescribeAsync(device, true, ct);
    }

    public bool Exists(string deviceId) => identities.FindDevice(deviceId) is not null;

    private async Task<JsonObject> DescribeAsync(DeviceRecord device, bool withHistory, CancellationToken ct)
    {
        var p = presence.Get(device.DeviceId);
        var last = await latest.GetAsync(device.DeviceId, ct);
        var o = new JsonObject
        {
            ["deviceId"] = device.DeviceId,
            ["name"] = device.Name,
            ["location"] = device.Location,
            ["status"] = p.Status,
            ["statusSince"] = Time(p.StatusSince),
            ["lastSeen"] = Time(p.LastSeen),
            ["bootId"] = p.BootId,
            ["lastReading"] = last is null ? null : new JsonObject
            {
                ["temperature"] = last.Temperature,
                ["humidity"] = last.Humidity,
                ["timestamp"] = WireJson.Time(last.Timestamp),
                ["insertId"] = last.InsertId,
            },
            // The presence tracker may keep its node: attach a copy.
            ["heartbeat"] = p.LastHeartbeat?.DeepClone(),
        };
        if (withHistory)
        {
            var history = new JsonArray();
            foreach (var change in presence.History(device.DeviceId, PresenceHistoryLimit))
            {
                history.Add((JsonNode)new JsonObject { ["status"] = change.Status, ["reason"] = change.Reason, ["at"] = WireJson.Time(change.At) });
            }
            o["presenceHistory"] = history;
        }
        return o;
    }

    private static string? Time(DateTimeOffset? t) => t is { } v ? WireJson.Time(v) : null;
}
