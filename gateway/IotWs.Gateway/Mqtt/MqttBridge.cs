using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Status;
using IotWs.Mqtt;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Mqtt;

/// <summary>
/// Mirrors the fleet into MQTT for Home Assistant and friends: retained state after each stored reading,
/// retained availability from presence, discovery per device, and the gateway's own availability with a last will.
/// The client queues while the broker is away, so nothing here ever waits for the network.
/// </summary>
internal sealed partial class MqttBridge(
    IOptions<MqttBridgeOptions> options,
    GatewayEvents events,
    IdentityStore identities,
    ILoggerFactory loggers,
    TimeProvider time) : BackgroundService, IStatusContributor
{
    public const string Model = "ESP32 + DHT22";

    private readonly MqttBridgeOptions _options = options.Value;
    private readonly ILogger _logger = loggers.CreateLogger<MqttBridge>();
    private MqttClient? _client;
    private HomeAssistantPublisher? _publisher;
    private string? _lastError;

    public string Section => "mqtt";

    public JsonNode? Snapshot()
    {
        if (!_options.Enabled) return new JsonObject { ["enabled"] = false };
        var s = _client?.Status;
        return new JsonObject
        {
            ["enabled"] = true,
            ["broker"] = $"{_options.Host}:{_options.Port}",
            ["connected"] = s?.IsConnected ?? false,
            ["queued"] = s?.QueuedCount ?? 0,
            ["dropped"] = s?.DroppedCount ?? 0,
            ["reconnects"] = s?.ReconnectCount ?? 0,
            ["lastError"] = s?.LastError ?? _lastError,
        };
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Set up before the host reports started (ExecuteAsync runs on its own task), so no event is missed.
        if (_options.Enabled) Prepare();
        return base.StartAsync(cancellationToken);
    }

    private void Prepare()
    {
        var ha = new HomeAssistantOptions
        {
            TopicPrefix = _options.TopicPrefix,
            DiscoveryPrefix = _options.DiscoveryPrefix,
            GatewayId = Environment.MachineName,
        };
        _client = new MqttClient(
            new MqttClientOptions
            {
                Host = _options.Host,
                Port = _options.Port,
                UseTls = _options.UseTls,
                Username = _options.Username,
                Password = _options.Password,
                ClientId = string.IsNullOrEmpty(_options.ClientId) ? "iotws-" + Environment.MachineName : _options.ClientId,
                KeepAlive = _options.KeepAlive,
                ReconnectMin = _options.ReconnectMin,
                ReconnectMax = _options.ReconnectMax,
                Will = HomeAssistantPublisher.GatewayWill(ha),
            },
            loggers.CreateLogger<MqttClient>(),
            time);
        // Created before connecting: it republishes everything it knows on every (re)connect.
        _publisher = new HomeAssistantPublisher(_client, ha);
        events.ReadingStored += OnReadingStored;
        events.PresenceChanged += OnPresenceChanged;
        events.ClientAuthenticated += OnAuthenticated;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_client is null || _publisher is null) return;
        foreach (var device in identities.ListDevices().Where(d => !d.Revoked))
        {
            await _publisher.PublishDiscoveryAsync(device.DeviceId, device.Name ?? device.DeviceId, Model, null, stoppingToken);
        }
        try
        {
            await _client.ConnectAsync(stoppingToken);
            LogConnected(_logger, _options.Host, _options.Port);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (MqttConnectionRefusedException e)
        {
            _lastError = e.Message;
            LogRefused(_logger, _options.Host, _options.Port, e.Message);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        events.ReadingStored -= OnReadingStored;
        events.PresenceChanged -= OnPresenceChanged;
        events.ClientAuthenticated -= OnAuthenticated;
        await base.StopAsync(cancellationToken);
        if (_client is null) return;
        try
        {
            // A clean DISCONNECT suppresses the will, so say "offline" ourselves first.
            if (_publisher is not null) await _publisher.PublishGatewayOfflineAsync(cancellationToken);
            await _client.DisconnectAsync(cancellationToken);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            LogStopFailed(_logger, e.Message);
        }
        finally
        {
            _publisher?.Dispose();
            await _client.DisposeAsync();
        }
    }

    private void OnReadingStored(StoredReading r) =>
        Forget(_publisher?.PublishReadingAsync(r.DeviceId, r.Temperature, r.Humidity, r.Timestamp));

    private void OnPresenceChanged(PresenceChange change)
    {
        // Home Assistant knows online/offline only; a stale device is still shown with its last value.
        if (change.Status is PresenceStates.Online or PresenceStates.Offline)
            Forget(_publisher?.PublishAvailabilityAsync(change.DeviceId, change.Status == PresenceStates.Online));
    }

    private void OnAuthenticated(ClientSession session)
    {
        if (session.DeviceId is not { } id || _publisher is null) return;
        var name = identities.FindDevice(id)?.Name ?? id;
        Forget(_publisher.PublishDiscoveryAsync(id, name, Model, session.Version));
        Forget(_publisher.PublishAvailabilityAsync(id, true));
    }

    private void Forget(Task? task)
    {
        // Publishing only enqueues; a failure here is a bug worth a log line, never a crash of the caller.
        task?.ContinueWith(t => LogPublishFailed(_logger, t.Exception!.GetBaseException().Message), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    [LoggerMessage(1, LogLevel.Information, "MQTT bridge connected to {Host}:{Port}")]
    private static partial void LogConnected(ILogger logger, string host, int port);

    [LoggerMessage(2, LogLevel.Error, "MQTT broker {Host}:{Port} refused the gateway: {Reason}. Check Gateway:Mqtt settings.")]
    private static partial void LogRefused(ILogger logger, string host, int port, string reason);

    [LoggerMessage(3, LogLevel.Warning, "MQTT bridge could not publish: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);

    [LoggerMessage(4, LogLevel.Warning, "MQTT bridge stopped uncleanly: {Reason}")]
    private static partial void LogStopFailed(ILogger logger, string reason);
}

/// <summary>Registration of the MQTT bridge.</summary>
public static class MqttBridgeServices
{
    public static IServiceCollection AddMqttBridge(this IServiceCollection services)
    {
        services.AddOptions<MqttBridgeOptions>().BindConfiguration(MqttBridgeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<MqttBridge>();
        services.AddHostedService(sp => sp.GetRequiredService<MqttBridge>());
        services.AddSingleton<IStatusContributor>(sp => sp.GetRequiredService<MqttBridge>());
        return services;
    }
}
