using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// What the nodes tell each other on iotws-cluster/pubsub/{origin}, and what this node does with it. Three kinds:
/// "publish" (any local publish: device_status, alerts, data/…, client publishes, streams) is delivered to local
/// subscribers; "readings" (the readings of one commit) update LatestReadings, raise GatewayEvents.RemoteReadingStored
/// and reach local subscribers of sensor_updates and devices/{id}/readings; "presence" (snapshots of devices whose
/// presence changed on the origin) updates the presence view. Nothing received is ever forwarded again.
/// </summary>
public sealed partial class ClusterFanout(
    IClusterBus bus,
    ITopicBroker broker,
    LatestReadings latest,
    GatewayEvents events,
    IServiceProvider services,
    ILogger<ClusterFanout> logger) : IHostedService
{
    public const string KindPublish = "publish";
    public const string KindReadings = "readings";
    public const string KindPresence = "presence";

    private IDisposable? _subscription;
    private PresenceTracker? _presence;
    private long _received;

    public long Received => Interlocked.Read(ref _received);

    /// <summary>{"kind":"publish","topic","data","source","timestamp"} on pubsub/{this node}.</summary>
    public static void Forward(IClusterBus bus, string topic, JsonNode? data, string source, DateTimeOffset timestamp) =>
        _ = bus.PublishAsync(ClusterTopics.PubSub(bus.NodeId), WireJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("kind", KindPublish);
            w.WriteString(Fields.Topic, topic);
            w.WritePropertyName(Fields.Data);
            WireJson.WriteNode(w, data);
            w.WriteString(Fields.Source, source);
            w.WriteString(Fields.Timestamp, WireJson.Time(timestamp));
            w.WriteEndObject();
        }));

    /// <summary>{"kind":"readings","at","items":[{reading…,"bootId","seq","source"}]}: one message per commit.</summary>
    public static void ForwardReadings(IClusterBus bus, IReadOnlyList<(StoredReading Reading, string Source)> readings, DateTimeOffset at)
    {
        if (readings.Count == 0) return;
        _ = bus.PublishAsync(ClusterTopics.PubSub(bus.NodeId), WireJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("kind", KindReadings);
            w.WriteString(Fields.At, WireJson.Time(at));
            w.WriteStartArray("items");
            foreach (var (r, source) in readings)
            {
                w.WriteStartObject();
                w.WriteNumber(Fields.InsertId, r.InsertId);
                w.WriteString(Fields.DeviceId, r.DeviceId);
                if (r.BootId is { } boot) w.WriteNumber(Fields.BootId, boot);
                if (r.Seq is { } seq) w.WriteNumber(Fields.Seq, seq);
                w.WriteString(Fields.Timestamp, WireJson.Time(r.Timestamp));
                w.WriteNumber(Fields.Temperature, r.Temperature);
                w.WriteNumber(Fields.Humidity, r.Humidity);
                if (r.SensorId is not null) w.WriteString(Fields.SensorId, r.SensorId);
                if (r.Location is not null) w.WriteString(Fields.Location, r.Location);
                w.WriteString(Fields.Source, source);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    /// <summary>{"kind":"presence","devices":[snapshot…]} (see <see cref="PresenceTracker"/>).</summary>
    public static void ForwardPresence(IClusterBus bus, JsonArray devices) =>
        _ = bus.PublishAsync(ClusterTopics.PubSub(bus.NodeId), WireJson.ToBytes(new JsonObject { ["kind"] = KindPresence, ["devices"] = devices }));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!bus.IsEnabled) return Task.CompletedTask;
        _presence = services.GetService<PresenceTracker>();
        _subscription = bus.Subscribe(ClusterTopics.PubSubFilter, OnMessage);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }

    private void OnMessage(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Level(subtopic, 1) is not { } origin || origin == bus.NodeId) return;
        Interlocked.Increment(ref _received);
        JsonObject? message;
        try
        {
            message = JsonNode.Parse(payload.Span) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            message = null;
        }
        if (message is null)
        {
            Malformed(logger, origin);
            return;
        }
        switch ((string?)message["kind"])
        {
            case KindPublish:
                if ((string?)message[Fields.Topic] is { } topic && TryTime(message[Fields.Timestamp], out var timestamp))
                    broker.DeliverRemote(topic, message[Fields.Data]?.DeepClone(), (string?)message[Fields.Source] ?? origin, timestamp);
                break;
            case KindReadings:
                OnReadings(message, origin);
                break;
            case KindPresence:
                if (message["devices"] is JsonArray devices && _presence is not null)
                {
                    foreach (var device in devices.OfType<JsonObject>()) _presence.ApplyRemote(device, origin);
                }
                break;
            default:
                Malformed(logger, origin);
                break;
        }
    }

    private void OnReadings(JsonObject message, string origin)
    {
        if (message["items"] is not JsonArray items) return;
        TryTime(message[Fields.At], out var at);
        foreach (var item in items.OfType<JsonObject>())
        {
            try
            {
                if ((string?)item[Fields.DeviceId] is not { } deviceId || !TryTime(item[Fields.Timestamp], out var timestamp)) continue;
                var reading = new StoredReading(
                    (long?)item[Fields.InsertId] ?? 0, deviceId, (long?)item[Fields.BootId], (long?)item[Fields.Seq], timestamp,
                    (double?)item[Fields.Temperature] ?? double.NaN, (double?)item[Fields.Humidity] ?? double.NaN,
                    (string?)item[Fields.SensorId], (string?)item[Fields.Location]);
                latest.Offer(reading);
                var source = (string?)item[Fields.Source] ?? origin;
                var deviceTopic = Topics.DeviceReadings(deviceId);
                var toAll = broker.IsHeard(Topics.SensorUpdates);
                var toDevice = broker.IsHeard(deviceTopic);
                if (toAll || toDevice)
                {
                    var data = ReadingFanout.ReadingMessage(reading);
                    if (toAll) broker.DeliverRemote(Topics.SensorUpdates, data, source, at);
                    if (toDevice) broker.DeliverRemote(deviceTopic, data, source, at);
                }
                events.OnRemoteReadingStored(reading, origin);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                Malformed(logger, origin);
            }
        }
    }

    private static bool TryTime(JsonNode? node, out DateTimeOffset time)
    {
        time = default;
        return node is JsonValue v && v.TryGetValue<string>(out var text)
            && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out time);
    }

    [LoggerMessage(421, LogLevel.Warning, "A malformed cluster message from node {NodeId} was dropped")]
    private static partial void Malformed(ILogger logger, string nodeId);
}
