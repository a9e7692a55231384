using System.Text.Json;

namespace IotWs.Gateway.Connections;

/// <summary>
/// The seed's server events, for code that observes the gateway (presence, alerts, the MQTT bridge, status).
/// Handlers run on the caller's thread: keep them short and never throw.
/// </summary>
public sealed class GatewayEvents
{
    public event Action<ClientSession>? ClientConnected;
    public event Action<ClientSession>? ClientAuthenticated;
    public event Action<ClientSession>? ClientDisconnected;
    /// <summary>Any message from an authenticated client: a sign of life.</summary>
    public event Action<ClientSession>? MessageReceived;
    /// <summary>Any message from an authenticated client with its type and content (the element is valid only during the call).</summary>
    public event Action<ClientSession, string, JsonElement>? MessageArrived;
    public event Action<ClientSession, JsonElement>? HeartbeatReceived;
    /// <summary>A sensor reading was committed (raised after commit, before or while its ack is sent).</summary>
    public event Action<Readings.StoredReading>? ReadingStored;
    public event Action<Devices.PresenceChange>? PresenceChanged;

    public void OnConnected(ClientSession s) => ClientConnected?.Invoke(s);
    public void OnAuthenticated(ClientSession s) => ClientAuthenticated?.Invoke(s);
    public void OnDisconnected(ClientSession s) => ClientDisconnected?.Invoke(s);
    public void OnMessage(ClientSession s) => MessageReceived?.Invoke(s);
    public void OnMessageArrived(ClientSession s, string type, JsonElement m) => MessageArrived?.Invoke(s, type, m);
    public void OnHeartbeat(ClientSession s, JsonElement m) => HeartbeatReceived?.Invoke(s, m);
    public void OnReadingStored(Readings.StoredReading r) => ReadingStored?.Invoke(r);
    public void OnPresenceChanged(Devices.PresenceChange c) => PresenceChanged?.Invoke(c);
}
