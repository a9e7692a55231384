using System.Buffers;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace IotWs.Mqtt.Tests;

/// <summary>What the publisher puts on which topic, without a broker (the Mosquitto tests cover the wire).</summary>
public class HomeAssistantPublisherTests
{
    private static readonly HomeAssistantOptions Options = new() { GatewayId = "pi-1" };

    [Fact]
    public void First_reading_of_a_device_publishes_discovery_before_its_state()
    {
        var outlet = new RecordingOutlet();
        var publisher = new HomeAssistantPublisher(outlet, Options);

        publisher.PublishReading("esp32-01", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
        publisher.PublishReading("esp32-01", 21.6, 48.0, new DateTimeOffset(2026, 11, 21, 12, 0, 5, TimeSpan.Zero));

        Assert.Equal(
            [
                "homeassistant/sensor/esp32-01_temperature/config",
                "homeassistant/sensor/esp32-01_humidity/config",
                "homeassistant/sensor/esp32-01_rssi/config",
                "homeassistant/sensor/esp32-01_last_seen/config",
                "homeassistant/sensor/esp32-01_boot/config",
                "homeassistant/button/esp32-01_reboot/config",
                "iotws/esp32-01/state",
                "iotws/esp32-01/state",
            ],
            outlet.Published.Select(m => m.Topic));
        Assert.All(outlet.Published, m => Assert.True(m.Retain));
        Assert.All(outlet.Published, m => Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, m.QualityOfServiceLevel));
    }

    [Fact]
    public void State_is_compact_json_with_a_utc_millisecond_timestamp()
    {
        var outlet = new RecordingOutlet();
        var publisher = new HomeAssistantPublisher(outlet, Options);

        publisher.PublishReading("dev", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 14, 0, 0, 123, TimeSpan.FromHours(2)));

        Assert.Equal("""{"temperature":21.5,"humidity":48.25,"timestamp":"2026-11-21T12:00:00.123Z"}""", Text(outlet.Published.Last()));
    }

    [Fact]
    public void Every_entity_needs_both_the_gateway_and_the_device_to_be_available()
    {
        var outlet = new RecordingOutlet();
        var publisher = new HomeAssistantPublisher(outlet, Options with { CommandsEnabled = true });

        publisher.PublishDevice("esp32-01", "Living room", "DHT22", "1.2.0");

        var configs = outlet.Published.Where(m => m.Topic.EndsWith("/config", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, configs.Count);
        foreach (var config in configs)
        {
            using var json = JsonDocument.Parse(config.Payload);
            var root = json.RootElement;
            Assert.Equal("all", root.GetProperty("availability_mode").GetString());
            Assert.Equal(
                ["iotws/gateway/availability", "iotws/esp32-01/availability"],
                root.GetProperty("availability").EnumerateArray().Select(a => a.GetProperty("topic").GetString()));
            Assert.False(root.TryGetProperty("availability_topic", out _), "a single availability_topic would ignore the gateway");
            Assert.Equal("iotws_pi-1", root.GetProperty("device").GetProperty("via_device").GetString());
            Assert.StartsWith("iotws_esp32-01_", root.GetProperty("unique_id").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Discovery_names_the_device_and_keeps_the_degree_sign_as_raw_utf8()
    {
        var outlet = new RecordingOutlet();
        var publisher = new HomeAssistantPublisher(outlet, Options);

        publisher.PublishDevice("esp32-01", "Living room", "DHT22", "1.2.0");

        var temperature = outlet.Published.Single(m => m.Topic == "homeassistant/sensor/esp32-01_temperature/config");
        var text = Text(temperature);
        Assert.Contains("\"unit_of_measurement\":\"°C\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(temperature.Payload);
        var root = json.RootElement;
        Assert.Equal("temperature", root.GetProperty("device_class").GetString());
        Assert.Equal("measurement", root.GetProperty("state_class").GetString());
        Assert.Equal(1, root.GetProperty("suggested_display_precision").GetInt32());
        Assert.Equal("{{ value_json.temperature }}", root.GetProperty("value_template").GetString());
        var device = root.GetProperty("device");
        Assert.Equal("iotws_esp32-01", device.GetProperty("identifiers")[0].GetString());
        Assert.Equal("Living room", device.GetProperty("name").GetString());
        Assert.Equal("DHT22", device.GetProperty("model").GetString());
        Assert.Equal("1.2.0", device.GetProperty("sw_version").GetString());

        using var rssi = JsonDocument.Parse(outlet.Published.Single(m => m.Topic.EndsWith("_rssi/config", StringComparison.Ordinal)).Payload);
        Assert.Equal("dBm", rssi.RootElement.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("{{ value_json.rssi | default(None) }}", rssi.RootElement.GetProperty("value_template").GetString());
    }

    [Fact]
    public void The_reboot_button_is_discovered_only_when_commands_are_enabled()
    {
        var off = new RecordingOutlet();
        new HomeAssistantPublisher(off, Options).PublishDevice("a", "A", "DHT22", null);
        var on = new RecordingOutlet();
        new HomeAssistantPublisher(on, Options with { CommandsEnabled = true }).PublishDevice("a", "A", "DHT22", null);

        Assert.Empty(off.Published.Single(m => m.Topic == "homeassistant/button/a_reboot/config").Payload.ToArray());
        using var button = JsonDocument.Parse(on.Published.Single(m => m.Topic == "homeassistant/button/a_reboot/config").Payload);
        Assert.Equal("iotws/a/command/reboot", button.RootElement.GetProperty("command_topic").GetString());
        Assert.Equal("restart", button.RootElement.GetProperty("device_class").GetString());
    }

    [Fact]
    public void Republish_sends_gateway_online_then_each_device_discovery_availability_state_and_diagnostics()
    {
        var outlet = new RecordingOutlet();
        var publisher = new HomeAssistantPublisher(outlet, Options);
        publisher.PublishDevice("a", "A", "DHT22", null);
        publisher.PublishAvailability("a", online: false);
        publisher.PublishReading("a", 20, 40, DateTimeOffset.UnixEpoch);
        publisher.PublishReading("a", 21, 41, DateTimeOffset.UnixEpoch);
        publisher.PublishDiagnostics("a", -70, null, 3);
        outlet.Published.Clear();

        publisher.RepublishAll();

        var topics = outlet.Published.Select(m => m.Topic).ToList();
        Assert.Equal("homeassistant/binary_sensor/pi-1_connectivity/config", topics[0]);
        Assert.Equal(("iotws/gateway/availability", "online"), (topics[1], Text(outlet.Published[1])));
        Assert.Equal(["iotws/a/availability", "iotws/a/state", "iotws/a/diagnostics"], topics[^3..]);
        Assert.Equal("offline", Text(outlet.Published[^3]));
        Assert.Contains("\"temperature\":21,", Text(outlet.Published[^2]), StringComparison.Ordinal);
        Assert.Equal("""{"rssi":-70,"bootId":3}""", Text(outlet.Published[^1]));
    }

    [Fact]
    public void Gateway_will_is_retained_offline_on_the_gateway_availability_topic()
    {
        var will = HomeAssistantPublisher.GatewayWill(new HomeAssistantOptions { TopicPrefix = "house" });

        Assert.Equal("house/gateway/availability", will.Topic);
        Assert.Equal("offline", Text(will));
        Assert.True(will.Retain);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, will.QualityOfServiceLevel);
    }

    [Theory]
    [InlineData("house/esp-1/command/reboot", true, "esp-1", "reboot")]
    [InlineData("house/esp-1/command/reboot/result", false, "", "")]
    [InlineData("house/esp-1/state", false, "", "")]
    [InlineData("other/esp-1/command/reboot", false, "", "")]
    public void Command_topics_are_recognised_and_nothing_else(string topic, bool isCommand, string deviceId, string endpoint)
    {
        var publisher = new HomeAssistantPublisher(new RecordingOutlet(), new HomeAssistantOptions { TopicPrefix = "house" });

        Assert.Equal(isCommand, publisher.TryParseCommand(topic, out var d, out var e));
        if (isCommand) Assert.Equal((deviceId, endpoint), (d, e));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a+")]
    [InlineData("#")]
    [InlineData("with space")]
    [InlineData("dev\n")]
    public void Device_ids_that_would_break_topics_are_rejected(string deviceId)
    {
        var publisher = new HomeAssistantPublisher(new RecordingOutlet(), Options);

        Assert.Throws<ArgumentException>(() => publisher.PublishAvailability(deviceId, true));
    }

    private static string Text(MqttApplicationMessage m) => Encoding.UTF8.GetString(m.Payload);

    /// <summary>Records what would go to the broker.</summary>
    private sealed class RecordingOutlet : IMqttOutlet
    {
        public List<MqttApplicationMessage> Published { get; } = [];

        public void Publish(MqttApplicationMessage message) => Published.Add(message);
    }
}
