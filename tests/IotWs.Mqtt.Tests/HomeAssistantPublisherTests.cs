using System.Text;
using System.Text.Json;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Mqtt.Tests;

public class HomeAssistantPublisherTests
{
    private static readonly HomeAssistantOptions Options = new() { GatewayId = "pi-1" };

    [Fact]
    public async Task First_reading_of_a_device_publishes_discovery_before_its_state()
    {
        var client = new RecordingClient();
        using var publisher = new HomeAssistantPublisher(client, Options);

        await publisher.PublishReadingAsync("esp32-01", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
        await publisher.PublishReadingAsync("esp32-01", 21.6, 48.0, new DateTimeOffset(2026, 11, 21, 12, 0, 5, TimeSpan.Zero));

        Assert.Equal(
            [
                "homeassistant/sensor/esp32-01_temperature/config",
                "homeassistant/sensor/esp32-01_humidity/config",
                "iotws/esp32-01/state",
                "iotws/esp32-01/state",
            ],
            client.Published.Select(m => m.Topic));
        Assert.All(client.Published, m => Assert.True(m.Retain));
        Assert.All(client.Published, m => Assert.Equal(MqttQos.AtLeastOnce, m.Qos));
    }

    [Fact]
    public async Task State_is_compact_json_with_a_utc_millisecond_timestamp()
    {
        var client = new RecordingClient();
        using var publisher = new HomeAssistantPublisher(client, Options);

        await publisher.PublishReadingAsync("dev", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 14, 0, 0, 123, TimeSpan.FromHours(2)));

        Assert.Equal(
            """{"temperature":21.5,"humidity":48.25,"timestamp":"2026-11-21T12:00:00.123Z"}""",
            client.Published.Last().Text());
    }

    [Fact]
    public async Task Discovery_names_the_device_and_keeps_the_degree_sign_as_raw_utf8()
    {
        var client = new RecordingClient();
        using var publisher = new HomeAssistantPublisher(client, Options);

        await publisher.PublishDiscoveryAsync("esp32-01", "Living room", "DHT22", "1.2.0");

        var temperature = client.Published.Single(m => m.Topic == "homeassistant/sensor/esp32-01_temperature/config");
        var text = Encoding.UTF8.GetString(temperature.Payload.Span);
        Assert.Contains("\"unit_of_measurement\":\"°C\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(temperature.Payload);
        var root = json.RootElement;
        Assert.Equal("temperature", root.GetProperty("device_class").GetString());
        Assert.Equal("measurement", root.GetProperty("state_class").GetString());
        Assert.Equal("iotws/esp32-01/state", root.GetProperty("state_topic").GetString());
        Assert.Equal("{{ value_json.temperature }}", root.GetProperty("value_template").GetString());
        Assert.Equal("iotws/esp32-01/availability", root.GetProperty("availability_topic").GetString());
        Assert.Equal("iotws_esp32-01_temperature", root.GetProperty("unique_id").GetString());
        var device = root.GetProperty("device");
        Assert.Equal("iotws_esp32-01", device.GetProperty("identifiers")[0].GetString());
        Assert.Equal("Living room", device.GetProperty("name").GetString());
        Assert.Equal("DHT22", device.GetProperty("model").GetString());
        Assert.Equal("1.2.0", device.GetProperty("sw_version").GetString());
        Assert.Equal("IotWs", device.GetProperty("manufacturer").GetString());

        using var humidity = JsonDocument.Parse(client.Published.Single(m => m.Topic.EndsWith("_humidity/config", StringComparison.Ordinal)).Payload);
        Assert.Equal("%", humidity.RootElement.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("{{ value_json.humidity }}", humidity.RootElement.GetProperty("value_template").GetString());
    }

    [Fact]
    public async Task Reconnect_republishes_gateway_online_then_each_device_discovery_availability_and_last_state()
    {
        var client = new RecordingClient();
        using var publisher = new HomeAssistantPublisher(client, Options);
        await publisher.PublishDiscoveryAsync("a", "A", "DHT22", null);
        await publisher.PublishAvailabilityAsync("a", online: false);
        await publisher.PublishReadingAsync("a", 20, 40, DateTimeOffset.UnixEpoch);
        await publisher.PublishReadingAsync("a", 21, 41, DateTimeOffset.UnixEpoch);
        client.Published.Clear();

        await client.RaiseConnectedAsync();

        Assert.Equal(
            [
                "homeassistant/binary_sensor/pi-1_connectivity/config",
                "iotws/gateway/availability",
                "homeassistant/sensor/a_temperature/config",
                "homeassistant/sensor/a_humidity/config",
                "iotws/a/availability",
                "iotws/a/state",
            ],
            client.Published.Select(m => m.Topic));
        Assert.Equal("online", client.Published[1].Text());
        Assert.Equal("offline", client.Published[4].Text());
        Assert.Contains("\"temperature\":21,", client.Published[5].Text(), StringComparison.Ordinal);
    }

    [Fact]
    public void Gateway_will_is_retained_offline_on_the_gateway_availability_topic()
    {
        var will = HomeAssistantPublisher.GatewayWill(new HomeAssistantOptions { TopicPrefix = "house" });

        Assert.Equal("house/gateway/availability", will.Topic);
        Assert.Equal("offline", Encoding.UTF8.GetString(will.Payload.Span));
        Assert.True(will.Retain);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a+")]
    [InlineData("#")]
    [InlineData("with space")]
    [InlineData("dev\n")]
    public async Task Device_ids_that_would_break_topics_are_rejected(string deviceId)
    {
        using var publisher = new HomeAssistantPublisher(new RecordingClient(), Options);

        await Assert.ThrowsAsync<ArgumentException>(() => publisher.PublishAvailabilityAsync(deviceId, true));
    }

    /// <summary>Records publishes; lets a test raise Connected as a reconnecting client would.</summary>
    private sealed class RecordingClient : IMqttClient
    {
        public event Func<MqttApplicationMessage, Task>? MessageReceived
        {
            add { }
            remove { }
        }

        public event Func<MqttConnectedEventArgs, Task>? Connected;

        public List<MqttApplicationMessage> Published { get; } = [];

        public bool IsConnected => true;

        public MqttClientStatus Status => new(true, 0, 0, 0, 0, null);

        public Task RaiseConnectedAsync() => Connected?.Invoke(new MqttConnectedEventArgs(false, isReconnect: true)) ?? Task.CompletedTask;

        public Task ConnectAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQos qos = MqttQos.AtMostOnce, bool retain = false, CancellationToken cancellationToken = default)
        {
            Published.Add(new MqttApplicationMessage(topic, payload.ToArray(), qos, retain));
            return Task.CompletedTask;
        }

        public Task SubscribeAsync(string topicFilter, MqttQos qos = MqttQos.AtMostOnce, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task UnsubscribeAsync(string topicFilter, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task DisconnectAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
