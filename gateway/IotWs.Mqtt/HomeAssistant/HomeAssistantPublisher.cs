using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace IotWs.Mqtt;

/// <summary>
/// Publishes readings and availability as retained MQTT messages with Home Assistant discovery, and
/// republishes everything it knows whenever the client (re)connects, so a restarted broker is refilled.
/// </summary>
public sealed partial class HomeAssistantPublisher : IDisposable
{
    // Relaxed escaping keeps "°C" as raw UTF-8 instead of "\u00B0C"; these payloads never reach HTML.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Sensor[] Sensors =
    [
        new("temperature", "Temperature", "°C"),
        new("humidity", "Humidity", "%"),
    ];

    private readonly IMqttClient _client;
    private readonly HomeAssistantOptions _options;

    // Serialises "remember, then publish" so a republish can never send an older state after a newer one.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);

    /// <summary>Construct before <see cref="IMqttClient.ConnectAsync"/>, so the first connection is seen too.</summary>
    public HomeAssistantPublisher(IMqttClient client, HomeAssistantOptions options)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        if (!MqttTopic.IsValidTopicName(options.TopicPrefix) || !MqttTopic.IsValidTopicName(options.DiscoveryPrefix))
        {
            throw new ArgumentException("TopicPrefix and DiscoveryPrefix must be valid topic names.", nameof(options));
        }

        if (!IdPattern().IsMatch(options.GatewayId) || options.Qos > MqttQos.AtLeastOnce)
        {
            throw new ArgumentException("GatewayId must match [A-Za-z0-9_-]{1,64}; Qos must be 0 or 1.", nameof(options));
        }

        _client = client;
        _options = options;
        _client.Connected += OnConnectedAsync;
    }

    /// <summary>The topic Home Assistant watches for the gateway itself.</summary>
    public static string GatewayAvailabilityTopic(HomeAssistantOptions options) => $"{options.TopicPrefix}/gateway/availability";

    /// <summary>The last will to put in <see cref="MqttClientOptions.Will"/>: retained <c>offline</c> on the gateway availability topic.</summary>
    public static MqttWill GatewayWill(HomeAssistantOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new MqttWill(GatewayAvailabilityTopic(options), "offline"u8.ToArray(), options.Qos, Retain: true);
    }

    public string StateTopic(string deviceId) => $"{_options.TopicPrefix}/{deviceId}/state";

    public string AvailabilityTopic(string deviceId) => $"{_options.TopicPrefix}/{deviceId}/availability";

    public string DiscoveryTopic(string deviceId, string sensor) => $"{_options.DiscoveryPrefix}/sensor/{deviceId}_{sensor}/config";

    /// <summary>Retained JSON state; the first reading of an unknown device also publishes its discovery.</summary>
    public async Task PublishReadingAsync(string deviceId, double temperature, double humidity, DateTimeOffset timestamp, CancellationToken cancellationToken = default)
    {
        CheckDeviceId(deviceId);
        if (!double.IsFinite(temperature) || !double.IsFinite(humidity))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), "Readings must be finite numbers.");
        }

        var state = StateJson(temperature, humidity, timestamp);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var device = Remember(deviceId);
            if (device.Info is null)
            {
                device.Info = new DeviceInfo(deviceId, "DHT22", null);
                await PublishDiscoveryAsync(device, cancellationToken);
            }

            device.State = state;
            await PublishAsync(StateTopic(deviceId), state, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Retained <c>online</c>/<c>offline</c> for one device.</summary>
    public async Task PublishAvailabilityAsync(string deviceId, bool online, CancellationToken cancellationToken = default)
    {
        CheckDeviceId(deviceId);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            Remember(deviceId).Online = online;
            await PublishAsync(AvailabilityTopic(deviceId), Availability(online), cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Retained discovery configs for the device's temperature and humidity sensors.</summary>
    public async Task PublishDiscoveryAsync(string deviceId, string name, string model, string? firmwareVersion, CancellationToken cancellationToken = default)
    {
        CheckDeviceId(deviceId);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var device = Remember(deviceId);
            device.Info = new DeviceInfo(name, model, string.IsNullOrWhiteSpace(firmwareVersion) ? null : firmwareVersion);
            await PublishDiscoveryAsync(device, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Retained <c>offline</c> for the gateway, for a clean shutdown: after DISCONNECT the broker drops the will,
    /// so this must be published before <see cref="IMqttClient.DisconnectAsync"/>.
    /// </summary>
    public Task PublishGatewayOfflineAsync(CancellationToken cancellationToken = default) =>
        PublishAsync(GatewayAvailabilityTopic(_options), Availability(false), cancellationToken);

    /// <summary>Gateway <c>online</c> and its discovery, then every device's discovery, availability and state.</summary>
    public async Task RepublishAllAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await PublishAsync($"{_options.DiscoveryPrefix}/binary_sensor/{_options.GatewayId}_connectivity/config", GatewayDiscoveryJson(), cancellationToken);
            await PublishAsync(GatewayAvailabilityTopic(_options), Availability(true), cancellationToken);
            foreach (var device in _devices.Values)
            {
                if (device.Info is not null)
                {
                    await PublishDiscoveryAsync(device, cancellationToken);
                }

                if (device.Online is { } online)
                {
                    await PublishAsync(AvailabilityTopic(device.Id), Availability(online), cancellationToken);
                }

                if (device.State is not null)
                {
                    await PublishAsync(StateTopic(device.Id), device.State, cancellationToken);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _client.Connected -= OnConnectedAsync;
        _gate.Dispose();
    }

    private Task OnConnectedAsync(MqttConnectedEventArgs args) => RepublishAllAsync();

    private DeviceRecord Remember(string deviceId)
    {
        if (!_devices.TryGetValue(deviceId, out var device))
        {
            device = new DeviceRecord(deviceId);
            _devices.Add(deviceId, device);
        }

        return device;
    }

    private async Task PublishDiscoveryAsync(DeviceRecord device, CancellationToken cancellationToken)
    {
        foreach (var sensor in Sensors)
        {
            await PublishAsync(DiscoveryTopic(device.Id, sensor.Key), SensorDiscoveryJson(device, sensor), cancellationToken);
        }
    }

    private Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken) =>
        _client.PublishAsync(topic, payload, _options.Qos, retain: true, cancellationToken);

    private static byte[] Availability(bool online) => online ? "online"u8.ToArray() : "offline"u8.ToArray();

    private static byte[] StateJson(double temperature, double humidity, DateTimeOffset timestamp) => Json(json =>
    {
        json.WriteNumber("temperature", temperature);
        json.WriteNumber("humidity", humidity);
        json.WriteString("timestamp", timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
    });

    private byte[] SensorDiscoveryJson(DeviceRecord device, Sensor sensor) => Json(json =>
    {
        var info = device.Info!;
        json.WriteString("name", sensor.Name);
        json.WriteString("unique_id", $"{_options.TopicPrefix}_{device.Id}_{sensor.Key}");
        json.WriteString("device_class", sensor.Key);
        json.WriteString("unit_of_measurement", sensor.Unit);
        json.WriteString("state_class", "measurement");
        json.WriteString("state_topic", StateTopic(device.Id));
        json.WriteString("value_template", $"{{{{ value_json.{sensor.Key} }}}}");
        json.WriteString("availability_topic", AvailabilityTopic(device.Id));
        json.WriteStartObject("device");
        json.WriteStartArray("identifiers");
        json.WriteStringValue($"{_options.TopicPrefix}_{device.Id}");
        json.WriteEndArray();
        json.WriteString("name", info.Name);
        json.WriteString("model", info.Model);
        if (info.FirmwareVersion is not null)
        {
            json.WriteString("sw_version", info.FirmwareVersion);
        }

        json.WriteString("manufacturer", "IotWs");
        json.WriteEndObject();
    });

    private byte[] GatewayDiscoveryJson() => Json(json =>
    {
        json.WriteString("name", "Connectivity");
        json.WriteString("unique_id", $"{_options.TopicPrefix}_{_options.GatewayId}_connectivity");
        json.WriteString("device_class", "connectivity");
        json.WriteString("state_topic", GatewayAvailabilityTopic(_options));
        json.WriteString("payload_on", "online");
        json.WriteString("payload_off", "offline");
        json.WriteStartObject("device");
        json.WriteStartArray("identifiers");
        json.WriteStringValue($"{_options.TopicPrefix}_{_options.GatewayId}");
        json.WriteEndArray();
        json.WriteString("name", $"IotWs gateway {_options.GatewayId}");
        json.WriteString("manufacturer", "IotWs");
        json.WriteEndObject();
    });

    private static byte[] Json(Action<Utf8JsonWriter> writeProperties)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            writeProperties(json);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void CheckDeviceId(string deviceId)
    {
        // The id becomes a topic level and a Home Assistant object id: no '/', wildcards or spaces.
        if (deviceId is null || !IdPattern().IsMatch(deviceId))
        {
            throw new ArgumentException($"Device id '{deviceId}' must match [A-Za-z0-9_-]{{1,64}}.", nameof(deviceId));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}\\z")]
    private static partial Regex IdPattern();

    private sealed record Sensor(string Key, string Name, string Unit);

    private sealed record DeviceInfo(string Name, string Model, string? FirmwareVersion);

    private sealed class DeviceRecord(string id)
    {
        public string Id { get; } = id;
        public DeviceInfo? Info { get; set; }
        public bool? Online { get; set; }
        public byte[]? State { get; set; }
    }
}
