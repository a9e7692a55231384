using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

public class HeartbeatTests
{
    [Fact]
    public void Heartbeats_are_sent_every_interval_with_health_figures()
    {
        var rig = new DeviceRig(s => s.ReadingIntervalMs = 600000);
        rig.ConnectAndAuthenticate();

        rig.Advance(29_900);
        Assert.Empty(rig.Sent(MessageTypes.Heartbeat));
        rig.Advance(200);
        var beat = Assert.Single(rig.Sent(MessageTypes.Heartbeat));

        Assert.True(beat[Fields.Uptime] is int or long);
        Assert.Equal(123_456, beat[Fields.FreeMemory]);
        Assert.Equal(-61, beat[Fields.Rssi]);
        Assert.Equal(0, beat[Fields.SensorErrors]);
        Assert.IsType<string>(beat[Fields.Timestamp]);

        rig.Transport.Deliver("""{"type":"heartbeat_response","timestamp":1,"serverTime":"2026-11-21T12:00:30.000Z"}""");
        rig.Advance(30_000);
        Assert.Single(rig.Sent(MessageTypes.Heartbeat));
    }

    [Fact]
    public void Sensor_errors_are_reported_in_heartbeats()
    {
        var rig = new DeviceRig(s => s.HeartbeatIntervalMs = 10_000);
        rig.Sensor.Failing = true;
        rig.ConnectAndAuthenticate();
        rig.Advance(10_100);

        var beat = Assert.Single(rig.Sent(MessageTypes.Heartbeat));
        Assert.Equal(5, beat[Fields.SensorErrors]);
    }

    [Fact]
    public void Silence_for_two_heartbeat_intervals_closes_the_link_and_reconnects()
    {
        var rig = new DeviceRig(s => s.HeartbeatIntervalMs = 10_000);
        rig.ConnectAndAuthenticate();

        rig.Advance(19_900);
        Assert.Equal(ConnectionState.Running, rig.Core.State);
        rig.Advance(200);

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
        Assert.Single(rig.Transport.Closes);
        rig.Advance(rig.Core.LastBackoffMs + 50);
        Assert.Equal(2, rig.Transport.Connects);
    }

    [Fact]
    public void Answers_from_the_gateway_keep_the_watchdog_quiet()
    {
        var rig = new DeviceRig(s => s.HeartbeatIntervalMs = 10_000);
        rig.ConnectAndAuthenticate();

        for (var i = 0; i < 6; i++)
        {
            rig.Advance(10_000);
            rig.Transport.Deliver("""{"type":"heartbeat_response","timestamp":1}""");
        }

        Assert.Equal(ConnectionState.Running, rig.Core.State);
        Assert.Empty(rig.Transport.Closes);
    }
}
