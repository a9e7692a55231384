using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Readings;

/// <summary>
/// After commit: publishes each stored reading on sensor_updates and devices/{id}/readings, each stored event on
/// data/{dataType}, raises GatewayEvents.ReadingStored and keeps the latest-reading cache current.
/// Publishing only queues on subscribers' outboxes, so it costs the writer nothing. In a cluster the commit's readings
/// also go to the other nodes as one message (<see cref="Cluster.ClusterFanout.ForwardReadings"/>).
/// </summary>
public sealed class ReadingFanout(ITopicBroker broker, GatewayEvents events, LatestReadings latest, Cluster.IClusterBus cluster, TimeProvider time, ILogger<ReadingFanout> logger)
{
    public void Committed(IReadOnlyList<StoreRequest> batch)
    {
        var forward = cluster.IsEnabled ? new List<(StoredReading, string)>() : null;
        foreach (var request in batch)
        {
            var source = (request.State as ClientSession)?.ClientId ?? "gateway";
            foreach (var r in request.Readings)
            {
                if (r.Status != EntryStatus.Stored) continue;
                try
                {
                    var stored = r.ToStoredReading();
                    latest.Offer(stored);
                    forward?.Add((stored, source));
                    var deviceTopic = Topics.DeviceReadings(r.DeviceId);
                    // Most readings have no dashboard watching: don't build a message nobody receives.
                    var toAll = broker.IsHeard(Topics.SensorUpdates);
                    var toDevice = broker.IsHeard(deviceTopic);
                    if (toAll || toDevice)
                    {
                        var data = ReadingMessage(stored);
                        // Not forwarded one by one: the other nodes get the readings of the commit in one message.
                        if (toAll) broker.Publish(Topics.SensorUpdates, data, source, toCluster: false);
                        if (toDevice) broker.Publish(deviceTopic, data, source, toCluster: false);
                    }
                    events.OnReadingStored(stored);
                }
                catch (Exception e)
                {
                    ReadingsLog.FanoutFailed(logger, e, r.DeviceId);
                }
            }
            if (request.Event is { Status: EntryStatus.Stored } ev)
            {
                try
                {
                    broker.Publish(ReadingParser.EventTopic(ev.DataType), new JsonObject
                    {
                        ["clientId"] = ev.ClientId,
                        ["deviceId"] = ev.DeviceId,
                        ["dataType"] = ev.DataType,
                        ["data"] = JsonNode.Parse(ev.DataJson),
                        ["timestamp"] = WireJson.Time(ev.Timestamp),
                        ["insertId"] = ev.InsertId,
                    }, source);
                }
                catch (Exception e)
                {
                    ReadingsLog.FanoutFailed(logger, e, ev.DeviceId ?? ev.ClientId);
                }
            }
        }
        if (forward is not null) Cluster.ClusterFanout.ForwardReadings(cluster, forward, time.GetUtcNow());
    }

    /// <summary>{"deviceId","sensor_id","location","temperature","humidity","timestamp","insertId"}</summary>
    public static JsonObject ReadingMessage(StoredReading r) => new()
    {
        [Fields.DeviceId] = r.DeviceId,
        [Fields.SensorId] = r.SensorId,
        [Fields.Location] = r.Location,
        [Fields.Temperature] = r.Temperature,
        [Fields.Humidity] = r.Humidity,
        [Fields.Timestamp] = WireJson.Time(r.Timestamp),
        [Fields.InsertId] = r.InsertId,
    };
}

/// <summary>The newest reading (by timestamp) of each device, filled from the store on first use and kept current after each commit.</summary>
public sealed class LatestReadings(IReadingStore store)
{
    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    /// <summary>A committed reading; it becomes the latest when it is newer than what is known.</summary>
    public void Offer(StoredReading reading) =>
        _slots.AddOrUpdate(reading.DeviceId,
            static (_, r) => new Slot(r, Loaded: false),
            static (_, old, r) => IsNewer(r, old.Reading) ? old with { Reading = r } : old,
            reading);

    public async ValueTask<StoredReading?> GetAsync(string deviceId, CancellationToken ct)
    {
        if (_slots.TryGetValue(deviceId, out var slot) && slot.Loaded) return slot.Reading;
        var row = await store.LatestAsync(deviceId, ct);
        var stored = row is null ? null : new StoredReading(row.InsertId, row.DeviceId, row.BootId, row.Seq, row.Timestamp, row.Temperature, row.Humidity, row.SensorId, row.Location);
        // A commit may have offered a newer one meanwhile: keep whichever is newer.
        return _slots.AddOrUpdate(deviceId,
            static (_, r) => new Slot(r, Loaded: true),
            static (_, old, r) => new Slot(IsNewer(r, old.Reading) ? r : old.Reading, Loaded: true),
            stored).Reading;
    }

    private static bool IsNewer(StoredReading? candidate, StoredReading? current) =>
        candidate is not null && (current is null || candidate.Timestamp > current.Timestamp
            || (candidate.Timestamp == current.Timestamp && candidate.InsertId > current.InsertId));

    private sealed record Slot(StoredReading? Reading, bool Loaded);
}
