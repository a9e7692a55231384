using IotWs.Gateway.Mqtt;
using System.Text.Json;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Mqtt;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>A Pi-attached sensor reaches Home Assistant through the bridge like a board, against a real Mosquitto (real time here).</summary>
public sealed class LocalSensorMqttTests
{
    [MosquittoFact]
    public async Task A_local_sensor_gets_state_availability_and_discovery_in_mqtt()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");
        await using var gateway = await TestGateway.StartAsync(null,
            b => b.Services.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(TimeProvider.System) { Temperature = 19.94, Humidity = 55.02 }),
            [.. MqttBridgeTests.Bridge(broker), .. LocalSensorRig.Sensor(0, "pi-office", "GpioPin=27", "Location=office", "ReadingInterval=00:00:02")]);

        var state = JsonDocument.Parse((await inbox.WaitForAsync("iotws/pi-office/state")).Payload).RootElement;
        Assert.Equal(19.9, state.GetProperty("temperature").GetDouble());
        Assert.Equal(55, state.GetProperty("humidity").GetDouble());
        await inbox.WaitForAsync("iotws/pi-office/availability", "online");
        var config = JsonDocument.Parse((await inbox.WaitForAsync("homeassistant/sensor/pi-office_temperature/config")).Payload).RootElement;
        Assert.Equal("Pi DHT22 on GPIO 27", config.GetProperty("device").GetProperty("name").GetString());
        Assert.Equal(MqttBridge.PiSensorModel, config.GetProperty("device").GetProperty("model").GetString());

        // No radio, so no "WiFi signal" that could only show unknown: its retained config is empty (which also removes
        // one an earlier version published); the other diagnostics stay.
        var rssi = await inbox.WaitForAsync("homeassistant/sensor/pi-office_rssi/config");
        Assert.Empty(rssi.Payload);
        Assert.All(inbox.Messages.Where(m => m.Topic == "homeassistant/sensor/pi-office_rssi/config"), m => Assert.Empty(m.Payload));
        Assert.NotEmpty((await inbox.WaitForAsync("homeassistant/sensor/pi-office_last_seen/config")).Payload);
        Assert.NotEmpty((await inbox.WaitForAsync("homeassistant/sensor/pi-office_boot/config")).Payload);
    }
}
