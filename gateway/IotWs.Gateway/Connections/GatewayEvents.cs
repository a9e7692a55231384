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
    /// <summary>
    /// Cluster: a reading committed by another node (its node id second), raised here after LatestReadings has it.
    /// Not raised for this node's own readings (those are <see cref="ReadingStored"/>); never on a single Pi.
    /// </summary>
    public event Action<Readings.StoredReading, string>? RemoteReadingStored;
    /// <summary>Cluster: a device held by another node (its node id second) changed state, as this node's presence view now shows.</summary>
    public event Action<Devices.PresenceChange, string>? RemotePresenceChanged;

    public void OnConnected(ClientSession s) => ClientConnected?.Invoke(s);
    public void OnAuthenticated(ClientSession s) => ClientAuthenticated?.Invoke(s);
    public void OnDisconnected(ClientSession s) => ClientDisconnected?.Invoke(s);
    public void OnMessage(ClientSession s) => MessageReceived?.Invoke(s);
    public void OnMessageArrived(ClientSession s, string type, JsonElement m) => MessageArrived?.Invoke(s, type, m);
    public void OnHeartbeat(ClientSession s, JsonElement m) => HeartbeatReceived?.Invoke(s, m);
    public void OnReadingStored(Readings.StoredReading r) => ReadingStored?.Invoke(r);
    public void OnPresenceChanged(Devices.PresenceChange c) => PresenceChanged?.Invoke(c);
    public void OnRemoteReadingStored(Readings.StoredReading r, string nodeId) => RemoteReadingStored?.Invoke(r, nodeId);
    public void OnRemotePresenceChanged(Devices.PresenceChange c, string nodeId) => RemotePresenceChanged?.Invoke(c, nodeId);
}
