using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Protocol;

namespace IotWs.Mqtt;

/// <summary>
/// Mirrors devices into MQTT the way Home Assistant reads it: retained state, availability and discovery, all at
/// QoS 1. Every entity depends on two availability topics (the gateway's and the device's, <c>availability_mode: all</c>),
/// so a gateway that stops or crashes takes every value out of view instead of leaving it frozen.
/// Remembers what it published, and <see cref="RepublishAll"/> sends it again (after a broker restart).
/// </summary>
public sealed partial class HomeAssistantPublisher
{
    public const string Online = "online";
    public const string Offline = "offline";

    // Relaxed escaping keeps "°C" as raw UTF-8 instead of "\u00B0C"; these payloads never reach HTML.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The entities of one device: what Home Assistant shows for a board.</summary>
    private static readonly Entity[] Entities =
    [
        new("sensor", "temperature", "Temperature", StateKind.Reading, "temperature", "°C", Precision: 1),
        new("sensor", "humidity", "Humidity", StateKind.Reading, "humidity", "%", Precision: 1),
        new("sensor", "rssi", "WiFi signal", StateKind.Diagnostics, "signal_strength", "dBm", Precision: 0, Diagnostic: true, ValueKey: "rssi", NeedsRadio: true),
        new("sensor", "last_seen", "Last seen", StateKind.Diagnostics, "timestamp", null, Diagnostic: true, ValueKey: "lastSeen", Measurement: false),
        new("sensor", "boot", "Boot number", StateKind.Diagnostics, null, null, Precision: 0, Diagnostic: true, ValueKey: "bootId", Measurement: false),
    ];

    private readonly IMqttOutlet _outlet;
    private readonly HomeAssistantOptions _options;

    // Serialises "remember, then publish", so a republish never sends an older state after a newer one.
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);

    public HomeAssistantPublisher(IMqttOutlet outlet, HomeAssistantOptions options)
    {
        ArgumentNullException.ThrowIfNull(outlet);
        ArgumentNullException.ThrowIfNull(options);
        if (!IsTopicName(options.TopicPrefix) || !IsTopicName(options.DiscoveryPrefix))
        {
            throw new ArgumentException("TopicPrefix and DiscoveryPrefix must be topic names without wildcards.", nameof(options));
        }

        if (!IdPattern().IsMatch(options.GatewayId))
        {
            throw new ArgumentException("GatewayId must match [A-Za-z0-9_-]{1,64}.", nameof(options));
        }

        _outlet = outlet;
        _options = options;
    }

    public HomeAssistantOptions Options => _options;

    /// <summary>The topic every entity watches for the gateway itself.</summary>
    public static string GatewayAvailabilityTopic(HomeAssistantOptions options) => $"{options.TopicPrefix}/gateway/availability";

    /// <summary>The last will: retained <c>offline</c> on the gateway availability topic, QoS 1.</summary>
    public static MqttApplicationMessage GatewayWill(HomeAssistantOptions options) => Message(GatewayAvailabilityTopic(options), Offline);

    /// <summary>The filter of technician commands: <c>{prefix}/{deviceId}/command/{endpoint}</c>.</summary>
    public static string CommandFilter(HomeAssistantOptions options) => $"{options.TopicPrefix}/+/command/+";

    public string StateTopic(string deviceId) => $"{_options.TopicPrefix}/{deviceId}/state";

    public string AvailabilityTopic(string deviceId) => $"{_options.TopicPrefix}/{deviceId}/availability";

    public string DiagnosticsTopic(string deviceId) => $"{_options.TopicPrefix}/{deviceId}/diagnostics";

    public string CommandTopic(string deviceId, string endpoint) => $"{_options.TopicPrefix}/{deviceId}/command/{endpoint}";

    public string DiscoveryTopic(string deviceId, string entity, string component = "sensor") => $"{_options.DiscoveryPrefix}/{component}/{deviceId}_{entity}/config";

    /// <summary>Parses <c>{prefix}/{deviceId}/command/{endpoint}</c>; false for anything else (including its result topic).</summary>
    public bool TryParseCommand(string topic, out string deviceId, out string endpoint)
    {
        deviceId = endpoint = "";
        var parts = topic.Split('/');
        var prefixLevels = _options.TopicPrefix.Split('/').Length;
        if (parts.Length != prefixLevels + 3 || !topic.StartsWith(_options.TopicPrefix + "/", StringComparison.Ordinal) || parts[prefixLevels + 1] != "command") return false;
        deviceId = parts[prefixLevels];
        endpoint = parts[prefixLevels + 2];
        return deviceId.Length > 0 && endpoint.Length > 0;
    }

    /// <summary>
    /// Retained discovery of every entity of a device: name, model and firmware version go into its device block.
    /// A device without a radio (<paramref name="hasRadio"/> false: a sensor wired to the gateway) gets no WiFi signal
    /// entity, and an empty retained config removes one an earlier version published.
    /// </summary>
    public void PublishDevice(string deviceId, string name, string model, string? firmwareVersion, bool hasRadio = true)
    {
        CheckDeviceId(deviceId);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        lock (_gate)
        {
            var device = Remember(deviceId);
            device.Info = new DeviceInfo(name, model, string.IsNullOrWhiteSpace(firmwareVersion) ? null : firmwareVersion, hasRadio);
            PublishDiscovery(device);
        }
    }

    /// <summary>Retained JSON state; the first reading of an unknown device also publishes its discovery.</summary>
    public void PublishReading(string deviceId, double temperature, double humidity, DateTimeOffset timestamp)
    {
        CheckDeviceId(deviceId);
        if (!double.IsFinite(temperature) || !double.IsFinite(humidity))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), "Readings must be finite numbers.");
        }

        var state = Json(json =>
        {
            json.WriteNumber("temperature", temperature);
            json.WriteNumber("humidity", humidity);
            json.WriteString("timestamp", Time(timestamp));
        });
        lock (_gate)
        {
            var device = Remember(deviceId);
            if (device.Info is null)
            {
                device.Info = new DeviceInfo(deviceId, "DHT22", null, HasRadio: true);
                PublishDiscovery(device);
            }

            device.State = state;
            _outlet.Publish(Message(StateTopic(deviceId), state));
        }
    }

    /// <summary>Retained <c>online</c>/<c>offline</c> for one device.</summary>
    public void PublishAvailability(string deviceId, bool online)
    {
        CheckDeviceId(deviceId);
        lock (_gate)
        {
            Remember(deviceId).Online = online;
            _outlet.Publish(Message(AvailabilityTopic(deviceId), online ? Online : Offline));
        }
    }

    /// <summary>Retained diagnostics (WiFi RSSI, last seen, boot number); a value not known yet is left out.</summary>
    public void PublishDiagnostics(string deviceId, double? rssi, DateTimeOffset? lastSeen, long? bootId)
    {
        CheckDeviceId(deviceId);
        var payload = Json(json =>
        {
            if (rssi is { } r) json.WriteNumber("rssi", r);
            if (lastSeen is { } seen) json.WriteString("lastSeen", Time(seen));
            if (bootId is { } boot) json.WriteNumber("bootId", boot);
        });
        lock (_gate)
        {
            Remember(deviceId).Diagnostics = payload;
            _outlet.Publish(Message(DiagnosticsTopic(deviceId), payload));
        }
    }

    /// <summary>The outcome of a command, not retained (it answers one press).</summary>
    public void PublishCommandResult(string deviceId, string endpoint, byte[] resultJson) =>
        _outlet.Publish(new MqttApplicationMessageBuilder()
            .WithTopic(CommandTopic(deviceId, endpoint) + "/result")
            .WithPayload(resultJson)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json")
            .Build());

    /// <summary>Retained <c>offline</c> for the gateway on a clean stop: a clean DISCONNECT makes the broker drop the will.</summary>
    public void PublishGatewayOffline() => _outlet.Publish(Message(GatewayAvailabilityTopic(_options), Offline));

    /// <summary>Gateway discovery and <c>online</c>, then every device's discovery, availability, state and diagnostics.</summary>
    public void RepublishAll()
    {
        lock (_gate)
        {
            _outlet.Publish(Message($"{_options.DiscoveryPrefix}/binary_sensor/{_options.GatewayId}_connectivity/config", GatewayDiscoveryJson()));
            _outlet.Publish(Message(GatewayAvailabilityTopic(_options), Online));
            foreach (var device in _devices.Values)
            {
                if (device.Info is not null) PublishDiscovery(device);
                if (device.Online is { } online) _outlet.Publish(Message(AvailabilityTopic(device.Id), online ? Online : Offline));
                if (device.State is { } state) _outlet.Publish(Message(StateTopic(device.Id), state));
                if (device.Diagnostics is { } diagnostics) _outlet.Publish(Message(DiagnosticsTopic(device.Id), diagnostics));
            }
        }
    }

    private DeviceRecord Remember(string deviceId)
    {
        if (!_devices.TryGetValue(deviceId, out var device))
        {
            device = new DeviceRecord(deviceId);
            _devices.Add(deviceId, device);
        }

        return device;
    }

    private void PublishDiscovery(DeviceRecord device)
    {
        foreach (var entity in Entities)
        {
            var shown = !entity.NeedsRadio || device.Info!.HasRadio;
            _outlet.Publish(Message(DiscoveryTopic(device.Id, entity.Key, entity.Component), shown ? EntityJson(device, entity) : []));
        }

        // An empty retained config removes the button from Home Assistant when commands are off.
        _outlet.Publish(Message(DiscoveryTopic(device.Id, "reboot", "button"), _options.CommandsEnabled ? RebootButtonJson(device) : []));
    }

    private byte[] EntityJson(DeviceRecord device, Entity entity) => Json(json =>
    {
        json.WriteString("name", entity.Name);
        json.WriteString("unique_id", $"{_options.TopicPrefix}_{device.Id}_{entity.Key}");
        json.WriteString("object_id", $"{device.Id}_{entity.Key}");
        if (entity.DeviceClass is not null) json.WriteString("device_class", entity.DeviceClass);
        if (entity.Unit is not null) json.WriteString("unit_of_measurement", entity.Unit);
        if (entity.Measurement) json.WriteString("state_class", "measurement");
        if (entity.Precision is { } precision) json.WriteNumber("suggested_display_precision", precision);
        if (entity.Diagnostic) json.WriteString("entity_category", "diagnostic");
        json.WriteString("state_topic", entity.State == StateKind.Reading ? StateTopic(device.Id) : DiagnosticsTopic(device.Id));
        // A diagnostic the device has not reported yet shows as unknown rather than as a template error.
        json.WriteString("value_template", entity.State == StateKind.Reading
            ? $"{{{{ value_json.{entity.ValueKey ?? entity.Key} }}}}"
            : $"{{{{ value_json.{entity.ValueKey} | default(None) }}}}");
        WriteAvailability(json, device);
        WriteDevice(json, device);
    });

    private byte[] RebootButtonJson(DeviceRecord device) => Json(json =>
    {
        json.WriteString("name", "Reboot");
        json.WriteString("unique_id", $"{_options.TopicPrefix}_{device.Id}_reboot");
        json.WriteString("object_id", $"{device.Id}_reboot");
        json.WriteString("device_class", "restart");
        json.WriteString("entity_category", "config");
        json.WriteString("command_topic", CommandTopic(device.Id, "reboot"));
        json.WriteString("payload_press", "{}");
        json.WriteNumber("qos", 1);
        WriteAvailability(json, device);
        WriteDevice(json, device);
    });

    private void WriteAvailability(Utf8JsonWriter json, DeviceRecord device)
    {
        json.WriteStartArray("availability");
        foreach (var topic in (ReadOnlySpan<string>)[GatewayAvailabilityTopic(_options), AvailabilityTopic(device.Id)])
        {
            json.WriteStartObject();
            json.WriteString("topic", topic);
            json.WriteString("payload_available", Online);
            json.WriteString("payload_not_available", Offline);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("availability_mode", "all");
    }

    private void WriteDevice(Utf8JsonWriter json, DeviceRecord device)
    {
        var info = device.Info!;
        json.WriteStartObject("device");
        json.WriteStartArray("identifiers");
        json.WriteStringValue($"{_options.TopicPrefix}_{device.Id}");
        json.WriteEndArray();
        json.WriteString("name", info.Name);
        json.WriteString("model", info.Model);
        if (info.FirmwareVersion is not null) json.WriteString("sw_version", info.FirmwareVersion);
        json.WriteString("manufacturer", "IotWs");
        json.WriteString("via_device", GatewayIdentifier);
        json.WriteEndObject();
    }

    private string GatewayIdentifier => $"{_options.TopicPrefix}_{_options.GatewayId}";

    private byte[] GatewayDiscoveryJson() => Json(json =>
    {
        json.WriteString("name", "Connectivity");
        json.WriteString("unique_id", $"{GatewayIdentifier}_connectivity");
        json.WriteString("device_class", "connectivity");
        json.WriteString("entity_category", "diagnostic");
        json.WriteString("state_topic", GatewayAvailabilityTopic(_options));
        json.WriteString("payload_on", Online);
        json.WriteString("payload_off", Offline);
        json.WriteStartObject("device");
        json.WriteStartArray("identifiers");
        json.WriteStringValue(GatewayIdentifier);
        json.WriteEndArray();
        json.WriteString("name", $"IotWs gateway {_options.GatewayId}");
        json.WriteString("model", "IotWs gateway");
        if (_options.GatewayVersion is { } version) json.WriteString("sw_version", version);
        json.WriteString("manufacturer", "IotWs");
        json.WriteEndObject();
    });

    private static MqttApplicationMessage Message(string topic, string payload) => Message(topic, System.Text.Encoding.UTF8.GetBytes(payload));

    private static MqttApplicationMessage Message(string topic, byte[] payload) => new MqttApplicationMessageBuilder()
        .WithTopic(topic)
        .WithPayload(payload)
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag()
        .Build();

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

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

    private static bool IsTopicName(string topic) =>
        !string.IsNullOrEmpty(topic) && topic.IndexOfAny(['+', '#', '\0']) < 0 && !topic.EndsWith('/');

    private static void CheckDeviceId(string deviceId)
    {
        // The id becomes a topic level and a Home Assistant object id: no '/', wildcards or spaces.
        if (deviceId is null || !IdPattern().IsMatch(deviceId))
        {
            throw new ArgumentException($"Device id '{deviceId}' must match [A-Za-z0-9_.:-]{{1,64}}.", nameof(deviceId));
        }
    }

    // The gateway's own device-id rule (letters, digits, '_', '.', ':', '-'), none of which is special in a topic.
    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,64}\\z")]
    private static partial Regex IdPattern();

    private enum StateKind
    {
        Reading,
        Diagnostics,
    }

    private sealed record Entity(
        string Component,
        string Key,
        string Name,
        StateKind State,
        string? DeviceClass,
        string? Unit,
        int? Precision = null,
        bool Diagnostic = false,
        string? ValueKey = null,
        bool Measurement = true,
        bool NeedsRadio = false);

    private sealed record DeviceInfo(string Name, string Model, string? FirmwareVersion, bool HasRadio);

    private sealed class DeviceRecord(string id)
    {
        public string Id { get; } = id;
        public DeviceInfo? Info { get; set; }
        public bool? Online { get; set; }
        public byte[]? State { get; set; }
        public byte[]? Diagnostics { get; set; }
    }
}
