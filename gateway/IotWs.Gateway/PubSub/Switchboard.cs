using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Status;
using IotWs.Gateway.Streams;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.PubSub;

/// <summary>
/// The seed's server API for in-process code — publish, sendToClient, broadcastToAll, getStatus and the
/// server events — as a thin layer over the broker, the connection registry and GatewayEvents.
/// </summary>
public sealed class Switchboard : IDisposable
{
    /// <summary>The "source" of messages the gateway itself publishes.</summary>
    public const string GatewaySource = "gateway";

    private readonly ITopicBroker _broker;
    private readonly ConnectionRegistry _registry;
    private readonly GatewayEvents _events;
    private readonly GatewayStatus _status;
    private readonly StreamRelay _streams;

    public Switchboard(ITopicBroker broker, ConnectionRegistry registry, GatewayEvents events, GatewayStatus status, StreamRelay streams)
    {
        _broker = broker;
        _registry = registry;
        _events = events;
        _status = status;
        _streams = streams;
        _events.MessageArrived += OnMessageArrived;
    }

    /// <summary>client-connected: a WebSocket was accepted (before handshake and auth).</summary>
    public event Action<ClientSession>? ClientConnected
    {
        add => _events.ClientConnected += value;
        remove => _events.ClientConnected -= value;
    }

    /// <summary>client-disconnected: the connection is gone; its duration is now − ConnectedAt.</summary>
    public event Action<ClientSession>? ClientDisconnected
    {
        add => _events.ClientDisconnected += value;
        remove => _events.ClientDisconnected -= value;
    }

    /// <summary>data-received: a "data" (dataType, data) or legacy "sensor_data" ("sensor", the whole message) from an authenticated client, before it is validated or stored. The element is valid only during the call.</summary>
    public event Action<ClientSession, string, JsonElement>? DataReceived;

    /// <summary>database-insert: a sensor reading was committed.</summary>
    public event Action<StoredReading>? DatabaseInsert
    {
        add => _events.ReadingStored += value;
        remove => _events.ReadingStored -= value;
    }

    /// <summary>stream-started: a client opened a stream.</summary>
    public event Action<StreamInfo>? StreamStarted
    {
        add => _streams.StreamStarted += value;
        remove => _streams.StreamStarted -= value;
    }

    /// <summary>stream-data: a stream chunk was accepted (with its size in bytes).</summary>
    public event Action<StreamInfo, long>? StreamData
    {
        add => _streams.StreamData += value;
        remove => _streams.StreamData -= value;
    }

    /// <summary>publish(topic, data, excludeClientId): to every subscriber of a matching filter; returns how many got it.</summary>
    public int Publish(string topic, JsonNode? data, string? excludeClientId = null)
    {
        if (!Topics.IsValidTopic(topic)) throw new ArgumentException($"'{topic}' is not a topic one can publish to.", nameof(topic));
        return _broker.Publish(topic, data, GatewaySource, excludeClientId);
    }

    /// <summary>sendToClient(clientId, message): queues one message (an object with a string "type") for one connection; false when it is not connected.</summary>
    public bool SendToClient(string clientId, JsonObject message)
    {
        RequireType(message);
        var session = _registry.Find(clientId);
        return session is { IsClosing: false } && session.Send(WireJson.ToBytes(message));
    }

    /// <summary>broadcastToAll(message, clientTypeFilter): to every authenticated connection (of that client type); droppable like any fan-out. Returns how many got it.</summary>
    public int BroadcastToAll(JsonObject message, string? clientTypeFilter = null)
    {
        RequireType(message);
        var payload = WireJson.ToBytes(message);
        var count = 0;
        foreach (var session in _registry.All)
        {
            if (!session.IsAuthenticated || session.IsClosing) continue;
            if (clientTypeFilter is not null && session.ClientType != clientTypeFilter) continue;
            if (session.SendDroppable(payload)) count++;
        }
        return count;
    }

    /// <summary>getStatus(): the same object as GET /api/status.</summary>
    public JsonObject GetStatus() => _status.GetStatus();

    private void OnMessageArrived(ClientSession session, string type, JsonElement message)
    {
        if (DataReceived is not { } handlers) return;
        if (type == MessageTypes.Data)
        {
            var dataType = message.TryGetProperty(Fields.DataType, out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : ProtocolInfo.DataTypeSensor;
            var data = message.TryGetProperty(Fields.Data, out var d) ? d : default;
            handlers(session, dataType, data);
        }
        else if (type == MessageTypes.SensorData)
        {
            handlers(session, ProtocolInfo.DataTypeSensor, message);
        }
    }

    private static void RequireType(JsonObject message)
    {
        if (message[Fields.Type] is not JsonValue type || !type.TryGetValue(out string? _))
            throw new ArgumentException("Every message needs a string field 'type' (protocol v1).", nameof(message));
    }

    public void Dispose() => _events.MessageArrived -= OnMessageArrived;
}
