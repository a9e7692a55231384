using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

public class BootTests
{
    [Fact]
    public void Boot_id_goes_up_by_one_at_every_boot_and_is_saved()
    {
        var rig = new DeviceRig();
        Assert.Equal(1, rig.Core.BootId);
        Assert.Equal(2, rig.Reboot().BootId);
        Assert.Equal(3, rig.Reboot().BootId);
        Assert.Equal("3", rig.Store.Get(StoreKeys.BootId));
    }

    [Fact]
    public void Seq_starts_again_at_one_in_a_new_boot()
    {
        var rig = new DeviceRig();
        rig.Advance(4000);
        Assert.Equal(2, rig.Core.LastSeq);

        var next = rig.Reboot();
        rig.Advance(2000);
        Assert.Equal(1, next.LastSeq);
    }

    [Fact]
    public void A_corrupt_boot_counter_starts_over_rather_than_failing_to_boot()
    {
        var store = new Host.InMemoryStore();
        store.Set(StoreKeys.BootId, "not a number");
        var rig = new DeviceRig(store: store);

        Assert.Equal(1, rig.Core.BootId);
    }

    [Fact]
    public void Config_json_is_read_into_settings()
    {
        var json = new Host.SystemTextJsonCodec();
        var config = json.Parse("""{"wifiSsid":"home","gatewayUrl":"ws://192.168.1.10:5080/ws","deviceId":"esp32-1","token":"t","readingIntervalMs":5000,"heartbeatIntervalMs":15000.0,"location":"attic"}""")!;

        var settings = DeviceSettings.FromConfig(config, out var error);

        Assert.Null(error);
        Assert.Equal("ws://192.168.1.10:5080/ws", settings.GatewayUrl);
        Assert.Equal(5000, settings.ReadingIntervalMs);
        Assert.Equal(15000, settings.HeartbeatIntervalMs);
        Assert.Equal("esp32-1_DHT22", settings.EffectiveSensorId);
        Assert.Equal("attic", settings.Location);
    }

    [Theory]
    [InlineData("""{"deviceId":"d","token":"t"}""", "gatewayUrl must be a ws:// or wss:// URL")]
    [InlineData("""{"gatewayUrl":"http://x/ws","deviceId":"d","token":"t"}""", "gatewayUrl must be a ws:// or wss:// URL")]
    [InlineData("""{"gatewayUrl":"ws://x/ws","token":"t"}""", "deviceId is required")]
    [InlineData("""{"gatewayUrl":"ws://x/ws","deviceId":"d"}""", "token is required")]
    [InlineData("""{"gatewayUrl":"ws://x/ws","deviceId":"d","token":"t","readingIntervalMs":500}""", "readingIntervalMs must be between 2000 and 3600000")]
    public void A_bad_config_json_is_refused_with_a_reason(string text, string expected)
    {
        var config = new Host.SystemTextJsonCodec().Parse(text)!;

        Assert.Null(DeviceSettings.FromConfig(config, out var error));
        Assert.Equal(expected, error);
    }
}
