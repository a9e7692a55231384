using System.Buffers;
using System.Net;
using System.Threading.Channels;
using IotWs.Gateway.Identity;
using IotWs.Mqtt;
using IotWs.Protocol;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IotWs.Gateway.Mqtt;

/// <summary>
/// An MQTT broker inside the gateway (MQTTnet.Server), for a Pi without Mosquitto. Clients log in with an API key
/// as password (any user name); every key role may subscribe; only the gateway publishes under the topic prefix,
/// except command topics, which a technician or admin key may publish when Gateway:Mqtt:Commands is on.
/// </summary>
public sealed partial class EmbeddedBroker : IMqttOutlet, IAsyncDisposable
{
    private const string RoleItem = "iotws.role";
    // Marks the gateway's own messages: a client cannot put an object into session items, so it cannot forge this.
    private static readonly object GatewaySender = new();

    private readonly MqttBridgeOptions _options;
    private readonly IdentityStore _identities;
    private readonly ILogger<EmbeddedBroker> _logger;
    private readonly Channel<MqttApplicationMessage> _outgoing;
    private readonly string _prefix;
    private MqttServer? _server;
    private Task? _injector;
    private long _refusedConnections;
    private long _refusedPublishes;

    public EmbeddedBroker(IOptions<MqttBridgeOptions> options, IdentityStore identities, ILogger<EmbeddedBroker> logger)
    {
        _options = options.Value;
        _identities = identities;
        _logger = logger;
        _prefix = _options.TopicPrefix + "/";
        // The gateway's publishes reach the broker in order; a stuck broker drops the oldest instead of growing.
        _outgoing = Channel.CreateBounded<MqttApplicationMessage>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
    }

    /// <summary>A command arrived from a client allowed to send it: (topic, payload). Must not block.</summary>
    public event Action<string, byte[]>? CommandReceived;

    public bool IsRunning => _server?.IsStarted ?? false;

    public int Port => _options.Broker.Port;

    public void Publish(MqttApplicationMessage message) => _outgoing.Writer.TryWrite(message);

    public async Task StartAsync()
    {
        var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(_options.Broker.BindAddress))
            .WithDefaultEndpointPort(_options.Broker.Port)
            .Build());
        server.ValidatingConnectionAsync += ValidateConnectionAsync;
        server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
        server.InterceptingPublishAsync += InterceptPublishAsync;
        await server.StartAsync();
        _server = server;
        _injector = Task.Run(InjectAsync);
        LogListening(_logger, _options.Broker.BindAddress, _options.Broker.Port);
    }

    public object Snapshot() => new
    {
        port = _options.Broker.Port,
        running = IsRunning,
        refusedConnections = Interlocked.Read(ref _refusedConnections),
        refusedPublishes = Interlocked.Read(ref _refusedPublishes),
    };

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
        e.SessionItems[RoleItem] = identity.Role;
        return Task.CompletedTask;
    }

    private static Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs e)
    {
        // Every key role may read: the same data /api and the dashboard show a viewer.
        if (e.SessionItems[RoleItem] is not string role || !Roles.CanView(role))
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
        var isOurs = topic.StartsWith(_prefix, StringComparison.Ordinal) || topic == _options.TopicPrefix;
        if (!isOurs) return Task.CompletedTask;
        var role = e.SessionItems[RoleItem] as string;
        var isCommand = _options.Commands.Enabled && IsCommandTopic(topic);
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

    [LoggerMessage(43, LogLevel.Warning, "Embedded MQTT broker refused a publish by {ClientId} on {Topic} (role {Role}): only the gateway publishes there")]
    private static partial void LogRefusedPublish(ILogger logger, string clientId, string topic, string role);

    [LoggerMessage(44, LogLevel.Warning, "Embedded MQTT broker could not take the gateway's message on {Topic}: {Reason}")]
    private static partial void LogInjectFailed(ILogger logger, string topic, string reason);
}
