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

/// <summary>A board whose boot counter was lost boots above the gateway's lastBootId (auth_response extension of v1).</summary>
public class WipedBoardTests
{
    private static string AuthOk(long lastBootId) =>
        $$"""{"type":"auth_response","success":true,"clientId":"c_1","role":"device","deviceId":"esp32-kitchen","lastBootId":{{lastBootId}}}""";

    private static void Authenticate(DeviceRig rig, string authResponse)
    {
        rig.Tick();
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();
        rig.Transport.TakeSent();
        rig.Transport.Deliver(authResponse);
        rig.Tick();
        Assert.Equal(ConnectionState.Running, rig.Core.State);
    }

    [Fact]
    public void A_wiped_board_boots_above_the_gateways_last_boot_and_sends_its_readings_under_the_new_boot()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        rig.Advance(4000);
        Assert.Equal(2, rig.Core.Buffered);
        rig.Transport.AcceptConnects = true;
        rig.Advance(5000, 5000);

        Authenticate(rig, AuthOk(41));

        Assert.Equal(42, rig.Core.BootId);
        Assert.Equal("42", rig.Store.Get(StoreKeys.BootId));
        var sent = rig.Transport.TakeSent();
        var handshake = Assert.Single(sent, m => (string?)m[Fields.Type] == MessageTypes.Handshake);
        Assert.Equal(42L, Convert.ToInt64(handshake[Fields.BootId], System.Globalization.CultureInfo.InvariantCulture));
        var data = sent.Where(m => (string?)m[Fields.Type] == MessageTypes.Data).ToList();
        Assert.NotEmpty(data);
        var boots = data.SelectMany(m => m[Fields.Batch] is System.Collections.ArrayList b ? b.Cast<System.Collections.Hashtable>() : [m])
            .Select(i => Convert.ToInt64(i[Fields.BootId], System.Globalization.CultureInfo.InvariantCulture)).Distinct();
        Assert.Equal([42L], boots);
        Assert.Equal(43, rig.Reboot().BootId);
    }

    [Fact]
    public void At_the_first_auth_of_a_boot_a_last_boot_equal_to_ours_also_moves_the_boot_up()
    {
        var rig = new DeviceRig();

        Authenticate(rig, AuthOk(1));

        Assert.Equal(2, rig.Core.BootId);
    }

    [Fact]
    public void A_reconnect_in_the_same_boot_sees_its_own_boot_as_last_and_keeps_it()
    {
        var rig = new DeviceRig();
        Authenticate(rig, AuthOk(5));
        Assert.Equal(6, rig.Core.BootId);
        rig.Transport.ServerClose(1006);
        rig.Tick();
        rig.Advance(2000);

        Authenticate(rig, AuthOk(6));

        Assert.Equal(6, rig.Core.BootId);
        Assert.Equal("6", rig.Store.Get(StoreKeys.BootId));
    }

    [Theory]
    [InlineData("""{"type":"auth_response","success":true,"clientId":"c_1","role":"device","deviceId":"esp32-kitchen"}""")]
    [InlineData("""{"type":"auth_response","success":true,"clientId":"c_1","role":"device","deviceId":"esp32-kitchen","lastBootId":0}""")]
    [InlineData("""{"type":"auth_response","success":true,"clientId":"c_1","role":"device","deviceId":"esp32-kitchen","lastBootId":"x"}""")]
    public void Without_a_higher_last_boot_the_boot_id_stays(string authResponse)
    {
        var store = new Host.InMemoryStore();
        store.Set(StoreKeys.BootId, "9");
        var rig = new DeviceRig(store: store);

        Authenticate(rig, authResponse);

        Assert.Equal(10, rig.Core.BootId);
        Assert.DoesNotContain(rig.Transport.TakeSent(), m => (string?)m[Fields.Type] == MessageTypes.Handshake);
    }
}
