using System.Collections;
using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

public class RpcTests
{
    private static Hashtable Call(DeviceRig rig, string endpoint, string data = "{}")
    {
        rig.Transport.Deliver(DeviceRig.Request("req_1", endpoint, data));
        rig.Tick();
        var response = Assert.Single(rig.Sent(MessageTypes.Response));
        Assert.Equal("req_1", response[Fields.RequestId]);
        return response;
    }

    private static DeviceRig Running(Action<DeviceSettings>? tune = null)
    {
        var rig = new DeviceRig(tune);
        rig.ConnectAndAuthenticate();
        return rig;
    }

    [Fact]
    public void Get_sensor_status_reports_the_last_reading_uptime_free_heap_and_sensor_health()
    {
        var rig = Running();
        rig.Sensor.Temperature = 22.5;
        rig.Sensor.Humidity = 40;
        rig.Advance(2000);
        rig.Sensor.Failing = true;
        rig.Advance(2000);

        var response = Call(rig, Endpoints.GetSensorStatus);

        Assert.Equal(true, response[Fields.Success]);
        var data = (Hashtable)response[Fields.Data]!;
        Assert.Equal(22.5, data[Fields.Temperature]);
        Assert.Equal(40, data[Fields.Humidity]);
        Assert.Equal(4000, data[Fields.Uptime]);
        Assert.Equal(123_456, data[DeviceFields.FreeHeap]);
        Assert.Equal(false, data[DeviceFields.SensorOk]);
        Assert.Equal(1, data[Fields.SensorErrors]);
        Assert.Equal(1, data[DeviceFields.ConsecutiveFailures]);
        Assert.Equal(2000, data[DeviceFields.LastReadingAgeMs]);
    }

    [Fact]
    public void Reboot_answers_first_and_restarts_the_board_after_the_delay()
    {
        var rig = Running();
        var answeredBeforeReboot = false;
        rig.Device.OnReboot = () => answeredBeforeReboot = rig.Transport.Sent.Any(s => s.Contains("Rebooting in 3 seconds", StringComparison.Ordinal));

        rig.Transport.Deliver(DeviceRig.Request("req_9", Endpoints.Reboot));
        rig.Tick();
        Assert.Equal(0, rig.Device.Reboots);
        rig.Advance(2900);
        Assert.Equal(0, rig.Device.Reboots);
        rig.Advance(200);

        Assert.Equal(1, rig.Device.Reboots);
        Assert.True(answeredBeforeReboot);
        var response = Assert.Single(rig.Sent(MessageTypes.Response));
        Assert.Equal("Rebooting in 3 seconds", ((Hashtable)response[Fields.Data]!)[Fields.Message]);
        Assert.Contains(CloseCodes.GoingAway, rig.Transport.Closes);
        Assert.True(rig.Core.IsStopped);
    }

    [Fact]
    public void Readings_unacked_at_a_reboot_are_replayed_by_the_next_boot()
    {
        var rig = Running();
        rig.Advance(6000);
        Assert.Equal(3, rig.Core.Buffered);
        rig.Transport.Deliver(DeviceRig.Request("req_2", Endpoints.Reboot));
        rig.Advance(3100);
        var readingsBeforeReboot = rig.Core.Buffered;

        var next = rig.Reboot();
        Assert.Equal(2, next.BootId);
        Assert.Equal(readingsBeforeReboot, next.Buffered);

        rig.Transport.TakeSent();
        rig.ReconnectWithBacklog();
        var batch = (ArrayList)Assert.Single(rig.Sent(MessageTypes.Data))[Fields.Batch]!;
        Assert.All(batch.Cast<Hashtable>(), item => Assert.Equal(1, item[Fields.BootId]));
        Assert.Equal(Enumerable.Range(1, readingsBeforeReboot).Select(i => (object)i), batch.Cast<Hashtable>().Select(i => i[Fields.Seq]));
    }

    [Fact]
    public void Ping_answers_pong_with_uptime()
    {
        var rig = Running();
        var data = (Hashtable)Call(rig, Endpoints.Ping)[Fields.Data]!;

        Assert.Equal(true, data[DeviceFields.Pong]);
        Assert.True(data[Fields.Uptime] is int or long);
    }

    [Fact]
    public void Set_interval_applies_persists_and_survives_a_reboot()
    {
        var rig = Running();
        var response = Call(rig, Endpoints.SetInterval, """{"readingIntervalMs":5000,"heartbeatIntervalMs":20000}""");

        Assert.Equal(true, response[Fields.Success]);
        Assert.Equal(5000, ((Hashtable)response[Fields.Data]!)[Fields.ReadingIntervalMs]);
        Assert.Equal("5000", rig.Store.Get(StoreKeys.ReadingIntervalMs));
        Assert.Equal("20000", rig.Store.Get(StoreKeys.HeartbeatIntervalMs));

        rig.Advance(4900);
        Assert.Empty(rig.Sent(MessageTypes.Data));
        rig.Advance(200);
        Assert.Single(rig.Sent(MessageTypes.Data));

        var next = rig.Reboot();
        Assert.Equal(5000, next.Settings.ReadingIntervalMs);
        Assert.Equal(20000, next.Settings.HeartbeatIntervalMs);
    }

    [Fact]
    public void Set_interval_accepts_a_number_written_with_a_decimal_point()
    {
        var rig = Running();
        var response = Call(rig, Endpoints.SetInterval, """{"readingIntervalMs":3000.0}""");

        Assert.Equal(true, response[Fields.Success]);
        Assert.Equal(3000, rig.Core.Settings.ReadingIntervalMs);
    }

    [Theory]
    [InlineData("""{"readingIntervalMs":1000}""", "readingIntervalMs must be between 2000 and 3600000")]
    [InlineData("""{"readingIntervalMs":"fast"}""", "readingIntervalMs must be between 2000 and 3600000")]
    [InlineData("""{"heartbeatIntervalMs":1000000}""", "heartbeatIntervalMs must be between 5000 and 600000")]
    [InlineData("{}", "set_interval needs readingIntervalMs and/or heartbeatIntervalMs")]
    public void Set_interval_refuses_bad_values_and_changes_nothing(string data, string error)
    {
        var rig = Running();
        var response = Call(rig, Endpoints.SetInterval, data);

        Assert.Equal(false, response[Fields.Success]);
        Assert.Equal(error, response[Fields.Error]);
        Assert.Null(rig.Store.Get(StoreKeys.ReadingIntervalMs));
        Assert.Equal(2000, rig.Core.Settings.ReadingIntervalMs);
    }

    [Fact]
    public void Identify_blinks_the_led()
    {
        var rig = Running();
        var response = Call(rig, Endpoints.Identify);

        Assert.Equal(true, response[Fields.Success]);
        Assert.Equal(1, rig.Device.Identifies);
    }

    [Fact]
    public void Get_config_reports_the_current_settings()
    {
        var rig = Running();
        var data = (Hashtable)Call(rig, Endpoints.GetConfig)[Fields.Data]!;

        Assert.Equal("esp32-kitchen", data[Fields.DeviceId]);
        Assert.Equal(2000, data[Fields.ReadingIntervalMs]);
        Assert.Equal(30000, data[Fields.HeartbeatIntervalMs]);
        Assert.Equal(500, data[DeviceFields.BufferCapacity]);
        Assert.Equal(DeviceInfo.FirmwareVersion, data[DeviceFields.FirmwareVersion]);
    }

    [Fact]
    public void An_unknown_endpoint_gets_the_seed_error_text()
    {
        var rig = Running();
        var response = Call(rig, "get_weather");

        Assert.Equal(false, response[Fields.Success]);
        Assert.Equal("Unknown endpoint: get_weather", response[Fields.Error]);
        Assert.Null(response[Fields.Data]);
    }
}
