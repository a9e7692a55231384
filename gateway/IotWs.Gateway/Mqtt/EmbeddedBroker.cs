using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using IotWs.Gateway.Identity;
using IotWs.Mqtt;
using IotWs.Protocol;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IotWs.Gateway.Mqtt;

/// <summary>
/// An MQTT broker inside the gateway (MQTTnet.Server), for a Pi without Mosquitto. Clients log in with an API key
/// as password (any user name); every key role may subscribe; only the gateway publishes under the topic prefix and
/// the discovery prefix (Home Assistant's {discovery}/status excepted), except command topics, which a technician or
/// admin key may publish when Gateway:Mqtt:Commands is on. Elsewhere any logged-in client may publish.
/// A key checked at connect stays checked: revoking it (or the end of a login session) disconnects its clients at the
/// next identity sweep (<see cref="IRevocableSessions"/>), and every subscribe and command publish asks again.
/// </summary>
public sealed partial class EmbeddedBroker : IMqttOutlet, IRevocableSessions, IAsyncDisposable
{
    private const string IdentityItem = "iotws.identity";
    // Marks the gateway's own messages: a client cannot put an object into session items, so it cannot forge this.
    private static readonly object GatewaySender = new();

    private readonly MqttBridgeOptions _options;
    private readonly IdentityCache _identities;
    private readonly ILogger<EmbeddedBroker> _logger;
    private readonly Channel<MqttApplicationMessage> _outgoing;
    private readonly string _prefix;
    private readonly string _discoveryPrefix;
    private MqttServer? _server;
    private Task? _injector;
    private long _refusedConnections;
    private long _refusedPublishes;
    private long _dropped;
    private long _revokedClients;
    private int _sweeping;

    public EmbeddedBroker(IOptions<MqttBridgeOptions> options, IdentityCache identities, ILogger<EmbeddedBroker> logger)
    {
        _options = options.Value;
        _identities = identities;
        _logger = logger;
        _prefix = _options.TopicPrefix + "/";
        _discoveryPrefix = _options.DiscoveryPrefix + "/";
        // The gateway's publishes reach the broker in order; a stuck broker drops the oldest instead of growing,
        // and says so: counted in /api/status, logged at the first loss and every 1000th.
        _outgoing = Channel.CreateBounded<MqttApplicationMessage>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, OnDropped);
    }

    /// <summary>Messages lost (oldest first) because the queue into the broker was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    private void OnDropped(MqttApplicationMessage message)
    {
        var dropped = Interlocked.Increment(ref _dropped);
        if (dropped == 1 || dropped % 1000 == 0) LogDropped(_logger, _options.QueueCapacity, dropped, message.Topic);
    }

    /// <summary>A command arrived from a client allowed to send it: (topic, payload). Must not block.</summary>
    public event Action<string, byte[]>? CommandReceived;

    public bool IsRunning => _server?.IsStarted ?? false;

    public int Port => _options.Broker.Port;

    public void Publish(MqttApplicationMessage message) => _outgoing.Writer.TryWrite(message);

    public async Task StartAsync()
    {
        // MQTTnet listens on IPv4 and IPv6 separately: 0.0.0.0 means both "any" addresses, any other address only itself.
        var bind = IPAddress.Parse(_options.Broker.BindAddress);
        var everywhere = bind.Equals(IPAddress.Any);
        var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(everywhere || bind.AddressFamily == AddressFamily.InterNetwork ? bind : IPAddress.None)
            .WithDefaultEndpointBoundIPV6Address(everywhere ? IPAddress.IPv6Any : bind.AddressFamily == AddressFamily.InterNetworkV6 ? bind : IPAddress.None)
            .WithDefaultEndpointPort(_options.Broker.Port)
            .Build());
        server.ValidatingConnectionAsync += ValidateConnectionAsync;
        server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
        server.InterceptingPublishAsync += InterceptPublishAsync;
        try
        {
            await server.StartAsync();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            server.Dispose();
            throw new EmbeddedBrokerException($"the embedded MQTT broker cannot listen on {_options.Broker.BindAddress}:{_options.Broker.Port}: the port is in use (a Mosquitto on this machine? point Gateway:Mqtt at it instead, or choose another Gateway:Mqtt:Broker:Port).");
        }
        _server = server;
        _injector = Task.Run(InjectAsync);
        LogListening(_logger, _options.Broker.BindAddress, _options.Broker.Port);
    }

    public JsonObject Snapshot() => new()
    {
        ["port"] = _options.Broker.Port,
        ["running"] = IsRunning,
        ["refusedConnections"] = Interlocked.Read(ref _refusedConnections),
        ["refusedPublishes"] = Interlocked.Read(ref _refusedPublishes),
        ["revokedClients"] = Interlocked.Read(ref _revokedClients),
        ["queued"] = _outgoing.Reader.CanCount ? _outgoing.Reader.Count : 0,
        ["queueCapacity"] = _options.QueueCapacity,
        ["dropped"] = DroppedMessages,
    };

    /// <summary>Disconnects (MQTT 5: reason "not authorized") every client whose key was revoked or whose login session ended.</summary>
    public void CloseRevoked(IdentityCache cache)
    {
        if (_server is not { IsStarted: true } server) return;
        // Sweeps come every poll interval; one at a time is enough.
        if (Interlocked.Exchange(ref _sweeping, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            try
            {
                foreach (var client in await server.GetClientsAsync())
                {
                    if (client.Session?.Items[IdentityItem] is not Identity.Identity identity || cache.IsCurrent(identity)) continue;
                    Interlocked.Increment(ref _revokedClients);
                    LogRevoked(_logger, client.Id, identity.Role, identity.Principal);
                    try
                    {
                        await client.DisconnectAsync(new MqttServerClientDisconnectOptionsBuilder()
                            .WithReasonCode(MqttDisconnectReasonCode.NotAuthorized)
                            .WithReasonString(identity.IsLoginSession ? "login session ended" : "credential revoked")
                            .Build());
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        // Gone already, or its socket broke while being told: either way it is no longer connected.
                        LogDisconnectFailed(_logger, client.Id, e.Message);
                    }
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // The broker is stopping.
            }
            finally
            {
                Volatile.Write(ref _sweeping, 0);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        if (_injector is not null) await _injector.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
        }
    }

    private async Task InjectAsync()
    {
        await foreach (var message in _outgoing.Reader.ReadAllAsync())
        {
            try
            {
                var injected = new InjectedMqttApplicationMessage(message) { SenderClientId = "iotws-gateway" };
                injected.CustomSessionItems = new Dictionary<object, object> { [GatewaySender] = GatewaySender };
                await _server!.InjectApplicationMessage(injected);
            }
            catch (Exception e)
            {
                LogInjectFailed(_logger, message.Topic, e.Message);
            }
        }
    }

    private Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        var identity = string.IsNullOrEmpty(e.Password) ? null : _identities.Authenticate(e.Password);
        // Devices speak the WebSocket protocol; MQTT clients are people's tools (Home Assistant, mosquitto_sub).
        if (identity is not { DeviceId: null } || !Roles.CanView(identity.Role))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            Interlocked.Increment(ref _refusedConnections);
            LogRefusedConnection(_logger, e.ClientId, e.RemoteEndPoint?.ToString());
            return Task.CompletedTask;
        }
        e.SessionItems[IdentityItem] = identity;
        // An MQTT 5 client may leave its id to the broker (mosquitto_sub does unless given -i). MQTT 3.1.1 has no way
        // to tell the client an assigned id, so MQTTnet refuses an empty one there ("identifier rejected").
        if (string.IsNullOrEmpty(e.ClientId))
        {
            if (e.ProtocolVersion == MqttProtocolVersion.V500) e.AssignedClientIdentifier = "iotws-" + Guid.NewGuid().ToString("N")[..16];
            else LogNoClientId(_logger, e.RemoteEndPoint?.ToString());
        }
        return Task.CompletedTask;
    }

    /// <summary>The role of a session whose key still holds (the sweep may not have disconnected a revoked one yet).</summary>
    private string? CurrentRole(System.Collections.IDictionary items) =>
        items[IdentityItem] is Identity.Identity identity && _identities.IsCurrent(identity) ? identity.Role : null;

    private Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs e)
    {
        // Every key role may read: the same data /api and the dashboard show a viewer.
        if (CurrentRole(e.SessionItems) is not { } role || !Roles.CanView(role))
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        }
        return Task.CompletedTask;
    }

    private Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        if (e.SessionItems.Contains(GatewaySender)) return Task.CompletedTask;
        var topic = e.ApplicationMessage.Topic;
        if (!IsGatewayTopic(topic)) return Task.CompletedTask;
        var isCommand = _options.Commands.Enabled && IsCommandTopic(topic);
        // A command is rare and acts on a device: look at the change counter first (one row), so a key revoked by the
        // CLI a moment ago sends nothing even before the next poll disconnects it.
        if (isCommand) RefreshIdentities();
        var role = CurrentRole(e.SessionItems);
        if (!isCommand || role is null || !Roles.CanOperate(role))
        {
            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            Interlocked.Increment(ref _refusedPublishes);
            LogRefusedPublish(_logger, e.ClientId, topic, role ?? "none");
            return Task.CompletedTask;
        }
        CommandReceived?.Invoke(topic, e.ApplicationMessage.Payload.ToArray());
        return Task.CompletedTask;
    }

    private void RefreshIdentities()
    {
        try
        {
            _identities.RefreshIfChanged();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or InvalidOperationException or TimeoutException)
        {
            // The cache as it stands decides; the poll retries the read.
            LogRefreshFailed(_logger, e.Message);
        }
    }

    /// <summary>
    /// The gateway's topics: everything under the topic prefix, and discovery (a forged config could point an entity
    /// anywhere) except Home Assistant's own status topic, where it announces itself.
    /// </summary>
    private bool IsGatewayTopic(string topic)
    {
        if (topic == _options.TopicPrefix || topic.StartsWith(_prefix, StringComparison.Ordinal)) return true;
        if (topic == _options.DiscoveryPrefix) return true;
        return topic.StartsWith(_discoveryPrefix, StringComparison.Ordinal) && topic != _discoveryPrefix + "status";
    }

    private bool IsCommandTopic(string topic)
    {
        // {prefix}/{deviceId}/command/{endpoint}, nothing deeper (results are the gateway's to publish).
        var rest = topic.AsSpan(_prefix.Length);
        var parts = rest.ToString().Split('/');
        return parts.Length == 3 && parts[0].Length > 0 && parts[1] == "command" && parts[2].Length > 0;
    }

    [LoggerMessage(41, LogLevel.Information, "Embedded MQTT broker listening on {Address}:{Port}")]
    private static partial void LogListening(ILogger logger, string address, int port);

    [LoggerMessage(42, LogLevel.Warning, "Embedded MQTT broker refused client {ClientId} from {Remote}: the password must be an API key")]
    private static partial void LogRefusedConnection(ILogger logger, string clientId, string? remote);

    [LoggerMessage(45, LogLevel.Warning, "Embedded MQTT broker refused an MQTT 3.1.1 client from {Remote} without a client id: give it one (mosquitto_sub -i NAME) or connect with MQTT 5 (-V mqttv5)")]
    private static partial void LogNoClientId(ILogger logger, string? remote);

    [LoggerMessage(43, LogLevel.Warning, "Embedded MQTT broker refused a publish by {ClientId} on {Topic} (role {Role}): only the gateway publishes there")]
    private static partial void LogRefusedPublish(ILogger logger, string clientId, string topic, string role);

    [LoggerMessage(46, LogLevel.Warning, "Embedded MQTT broker disconnected client {ClientId} ({Role} {Principal}): its key was revoked or its login session ended")]
    private static partial void LogRevoked(ILogger logger, string clientId, string role, string principal);

    [LoggerMessage(47, LogLevel.Debug, "Embedded MQTT broker could not tell client {ClientId} it is disconnected: {Reason}")]
    private static partial void LogDisconnectFailed(ILogger logger, string clientId, string reason);

    [LoggerMessage(49, LogLevel.Warning, "Embedded MQTT broker could not read the identity change counter before a command: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string reason);

    [LoggerMessage(48, LogLevel.Warning, "Embedded MQTT broker queue full ({Capacity} messages): dropped the oldest, {Dropped} so far (last on {Topic})")]
    private static partial void LogDropped(ILogger logger, int capacity, long dropped, string topic);

    [LoggerMessage(44, LogLevel.Warning, "Embedded MQTT broker could not take the gateway's message on {Topic}: {Reason}")]
    private static partial void LogInjectFailed(ILogger logger, string topic, string reason);
}

/// <summary>The embedded broker cannot start (its port is taken): one line for the operator.</summary>
public sealed class EmbeddedBrokerException(string message) : Exception(message);
