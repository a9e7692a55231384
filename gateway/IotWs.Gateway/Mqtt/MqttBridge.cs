using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Status;
using IotWs.Mqtt;
using IotWs.Protocol;
using Microsoft.Extensions.Options;
using MQTTnet.Formatter;

namespace IotWs.Gateway.Mqtt;

/// <summary>
/// Mirrors the fleet into MQTT for Home Assistant: retained state after each stored reading, availability from
/// presence, diagnostics from heartbeats, discovery per device, the gateway's own availability with a last will,
/// and (when enabled) technician commands. Publishes to a broker through <see cref="MqttLink"/>, to the
/// <see cref="EmbeddedBroker"/>, or to both; nothing here ever waits for the network.
/// </summary>
public sealed partial class MqttBridge(
    IOptions<MqttBridgeOptions> options,
    GatewayEvents events,
    IdentityStore identities,
    IDevicePresence presence,
    EmbeddedBroker embedded,
    IOptions<IotWs.Gateway.LocalSensors.LocalSensorsOptions> localSensors,
    IServiceProvider services,
    ILoggerFactory loggers) : IHostedService, IStatusContributor
{
    /// <summary>The model Home Assistant shows for a board.</summary>
    public const string BoardModel = "ESP32 + DHT22";

    /// <summary>The model Home Assistant shows for a DHT22 wired to the gateway's own Pi (Gateway:LocalSensors).</summary>
    public const string PiSensorModel = "Raspberry Pi + DHT22";

    private bool IsLocal(string deviceId) =>
        localSensors.Value.LocalSensors.Any(s => string.Equals(s.DeviceId, deviceId, StringComparison.Ordinal));

    private string ModelOf(string deviceId) => IsLocal(deviceId) ? PiSensorModel : BoardModel;

    private static readonly TimeSpan StopDrainTimeout = TimeSpan.FromSeconds(5);

    private readonly MqttBridgeOptions _options = options.Value;
    private readonly ILogger _logger = loggers.CreateLogger<MqttBridge>();
    private readonly List<HomeAssistantPublisher> _publishers = [];
    private readonly CancellationTokenSource _stopping = new();
    private MqttLink? _link;
    private MqttCommands? _commands;

    public string Section => "mqtt";

    /// <summary>Messages waiting for the bridge's broker (queued and unacknowledged); 0 without a bridge.</summary>
    public int QueueDepth => _link?.QueueDepth ?? 0;

    /// <summary>Messages dropped (oldest first) because the queue was full during a broker outage.</summary>
    public long DroppedMessages => _link?.Status.Dropped ?? 0;

    public JsonNode? Snapshot()
    {
        var result = new JsonObject { ["enabled"] = _options.Enabled };
        if (_options.Enabled)
        {
            var s = _link?.Status;
            result["broker"] = $"{_options.Host}:{_options.Port}";
            result["connected"] = s?.IsConnected ?? false;
            result["protocolVersion"] = s?.ProtocolVersion;
            result["queued"] = s?.Queued ?? 0;
            result["queueCapacity"] = _options.QueueCapacity;
            result["dropped"] = s?.Dropped ?? 0;
            result["published"] = s?.Published ?? 0;
            result["reconnects"] = s?.Reconnects ?? 0;
            result["lastError"] = s?.LastError;
        }
        result["commands"] = _options.Commands.Enabled;
        result["embeddedBroker"] = _options.Broker.Enabled ? embedded.Snapshot() : null;
        return result;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled && !_options.Broker.Enabled) return;
        if (_options.Commands.Enabled) _commands = services.GetRequiredService<MqttCommands>();
        var ha = new HomeAssistantOptions
        {
            TopicPrefix = _options.TopicPrefix,
            DiscoveryPrefix = _options.DiscoveryPrefix,
            GatewayId = GatewayId(),
            GatewayVersion = typeof(MqttBridge).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0],
            CommandsEnabled = _options.Commands.Enabled,
        };
        HomeAssistantPublisher? brokerPublisher = null;
        if (_options.Broker.Enabled)
        {
            await embedded.StartAsync();
            brokerPublisher = new HomeAssistantPublisher(embedded, ha);
            _publishers.Add(brokerPublisher);
            embedded.CommandReceived += (topic, payload) => OnCommand(brokerPublisher, topic, payload);
        }
        if (_options.Enabled)
        {
            _link = new MqttLink(LinkOptions(ha), loggers.CreateLogger<MqttLink>());
            var publisher = new HomeAssistantPublisher(_link, ha);
            _publishers.Add(publisher);
            // Every (re)connect refills a broker that may have lost its retained messages.
            _link.Connected += publisher.RepublishAll;
            _link.MessageReceived += (topic, payload) =>
            {
                OnCommand(publisher, topic, payload.ToArray());
                return Task.CompletedTask;
            };
        }

        events.ReadingStored += OnReadingStored;
        events.PresenceChanged += OnPresenceChanged;
        events.ClientAuthenticated += OnAuthenticated;
        events.HeartbeatReceived += OnHeartbeat;
        // A crash leaves each device's retained availability as it was: correct it from what presence knows now.
        foreach (var device in identities.ListDevices().Where(d => !d.Revoked))
        {
            var now = presence.Get(device.DeviceId);
            ForEach(p =>
            {
                p.PublishDevice(device.DeviceId, device.Name ?? device.DeviceId, ModelOf(device.DeviceId), null, hasRadio: !IsLocal(device.DeviceId));
                p.PublishAvailability(device.DeviceId, now.Status == PresenceStates.Online);
                PublishDiagnostics(p, now);
            });
        }
        brokerPublisher?.RepublishAll();
        _link?.Start();
        LogStarted(_logger, _options.Enabled ? $"{_options.Host}:{_options.Port}" : "off", _options.Broker.Enabled ? _options.Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) : "off");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        events.ReadingStored -= OnReadingStored;
        events.PresenceChanged -= OnPresenceChanged;
        events.ClientAuthenticated -= OnAuthenticated;
        events.HeartbeatReceived -= OnHeartbeat;
        await _stopping.CancelAsync();
        // A clean DISCONNECT suppresses the will, so say "offline" ourselves first.
        ForEach(p => p.PublishGatewayOffline());
        if (_link is not null)
        {
            await _link.StopAsync(StopDrainTimeout);
            await _link.DisposeAsync();
        }
        if (_options.Broker.Enabled) await embedded.DisposeAsync();
    }

    private MqttLinkOptions LinkOptions(HomeAssistantOptions ha)
    {
        X509Certificate2Collection? trusted = null;
        if (!string.IsNullOrEmpty(_options.CaCertificate))
        {
            trusted = [];
            trusted.ImportFromPemFile(_options.CaCertificate);
        }
        return new MqttLinkOptions
        {
            Host = _options.Host,
            Port = _options.Port,
            UseTls = _options.UseTls,
            TrustedCertificates = trusted,
            Username = _options.Username,
            Password = _options.Password,
            ClientId = string.IsNullOrEmpty(_options.ClientId) ? "iotws-" + Environment.MachineName : _options.ClientId,
            KeepAlive = _options.KeepAlive,
            ReconnectMin = _options.ReconnectMin,
            ReconnectMax = _options.ReconnectMax,
            ProtocolVersion = _options.ProtocolVersion switch
            {
                "5" => MqttProtocolVersion.V500,
                "3.1.1" => MqttProtocolVersion.V311,
                _ => null,
            },
            QueueCapacity = _options.QueueCapacity,
            Will = HomeAssistantPublisher.GatewayWill(ha),
            Subscriptions = _options.Commands.Enabled ? [HomeAssistantPublisher.CommandFilter(ha)] : [],
        };
    }

    private static string GatewayId()
    {
        // The machine name, reduced to what a Home Assistant object id may hold.
        var id = new string(Environment.MachineName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '-').ToArray());
        return id.Length is > 0 and <= 64 ? id : "gateway";
    }

    private void OnReadingStored(StoredReading r) => ForEach(p => p.PublishReading(r.DeviceId, r.Temperature, r.Humidity, r.Timestamp));

    private void OnPresenceChanged(PresenceChange change)
    {
        // Stale means the device missed its heartbeats: its last value may be frozen, so it is not shown as live.
        var online = change.Status == PresenceStates.Online;
        ForEach(p => p.PublishAvailability(change.DeviceId, online));
    }

    private void OnAuthenticated(ClientSession session)
    {
        if (!session.IsDevice || session.DeviceId is not { } id) return;
        var name = identities.FindDevice(id)?.Name ?? id;
        var now = presence.Get(id);
        ForEach(p =>
        {
            // A sensor wired to the Pi has no WiFi: no signal entity that could only ever show "unknown".
            p.PublishDevice(id, name, ModelOf(id), session.Version, hasRadio: !IsLocal(id));
            p.PublishAvailability(id, true);
            PublishDiagnostics(p, now);
        });
    }

    private void OnHeartbeat(ClientSession session, System.Text.Json.JsonElement message)
    {
        if (!session.IsDevice || session.DeviceId is not { } id) return;
        var now = presence.Get(id);
        ForEach(p => PublishDiagnostics(p, now));
    }

    private static void PublishDiagnostics(HomeAssistantPublisher publisher, PresenceSnapshot presence)
    {
        // Presence keeps integers as long and fractions as double.
        double? rssi = presence.LastHeartbeat?[Fields.Rssi] is not JsonValue v ? null
            : v.TryGetValue<long>(out var whole) ? whole
            : v.TryGetValue<double>(out var fraction) ? fraction
            : null;
        if (rssi is null && presence.LastSeen is null && presence.BootId is null) return;
        publisher.PublishDiagnostics(presence.DeviceId, rssi, presence.LastSeen, presence.BootId);
    }

    private void OnCommand(HomeAssistantPublisher publisher, string topic, byte[] payload)
    {
        if (_commands is null || !publisher.TryParseCommand(topic, out var deviceId, out var endpoint)) return;
        var commands = _commands;
        // The device may take seconds to answer: never on the MQTT client's or broker's receive path.
        _ = Task.Run(async () =>
        {
            try
            {
                var result = await commands.RunAsync(deviceId, endpoint, payload, _stopping.Token);
                publisher.PublishCommandResult(deviceId, endpoint, result);
            }
            catch (Exception e)
            {
                LogCommandFailed(_logger, topic, e.Message);
            }
        });
    }

    private void ForEach(Action<HomeAssistantPublisher> publish)
    {
        foreach (var publisher in _publishers)
        {
            try
            {
                publish(publisher);
            }
            catch (ArgumentException e)
            {
                // A device id Home Assistant could not take (the gateway's rules are wider): logged, never a crash of the caller.
                LogPublishFailed(_logger, e.Message);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Information, "MQTT for Home Assistant: bridge {Bridge}, embedded broker port {Broker}")]
    private static partial void LogStarted(ILogger logger, string bridge, string broker);

    [LoggerMessage(3, LogLevel.Warning, "MQTT bridge could not publish: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);

    [LoggerMessage(5, LogLevel.Error, "MQTT command on {Topic} failed: {Reason}")]
    private static partial void LogCommandFailed(ILogger logger, string topic, string reason);
}

/// <summary>Registration of the MQTT bridge, the embedded broker and MQTT commands.</summary>
public static class MqttBridgeServices
{
    public static IServiceCollection AddMqttBridge(this IServiceCollection services)
    {
        services.AddOptions<MqttBridgeOptions>().BindConfiguration(MqttBridgeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MqttBridgeOptions>, MqttBridgeOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<MqttBridgeOptions>, MqttBridgeOptionsValidator>();
        services.AddSingleton<EmbeddedBroker>();
        // Revoking a key disconnects its broker clients through the same sweep that closes its WebSockets.
        services.AddSingleton<IRevocableSessions>(sp => sp.GetRequiredService<EmbeddedBroker>());
        services.AddSingleton<MqttCommands>();
        services.AddSingleton<MqttBridge>();
        services.AddHostedService(sp => sp.GetRequiredService<MqttBridge>());
        services.AddSingleton<IStatusContributor>(sp => sp.GetRequiredService<MqttBridge>());
        return services;
    }
}
