using IotWs.Gateway.Devices;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Readings;
using IotWs.Protocol;
using Microsoft.Extensions.Logging;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>
/// An out-of-range value from a Pi-attached sensor meets the same rule as a board's (ReadingRules, -40..80 °C and
/// 0..100 %RH): the local board's own core drops it before sending, exactly as a board's firmware does, so the
/// gateway's ingest validation (the same rule, ReadingsIngestTests) never has to refuse it. Nothing is stored, the
/// read counts as a sensor error in the heartbeats, and the gateway's log says why.
/// </summary>
public sealed class LocalSensorValidationTests
{
    [Fact]
    public async Task An_out_of_range_local_reading_is_not_stored_and_is_counted_and_logged_as_a_sensor_error()
    {
        ScriptedDht? hardware = null;
        var logs = new CapturedLogs();
        await using var rig = await LocalSensorRig.StartAsync(null, null, s =>
            {
                s.AddSingleton<ILocalSensorHardware>(sp => hardware = new ScriptedDht(sp.GetRequiredService<TimeProvider>()) { Temperature = 85.2, Humidity = 40 });
                s.AddSingleton<ILoggerProvider>(logs);
            },
            [.. LocalSensorRig.Sensor(0, "pi-hall", "GpioPin=4", "HeartbeatInterval=00:00:05", "Retries=0")]);
        var presence = rig.Gateway.Service<IDevicePresence>();
        await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");

        // The first read (at 10 s) gives 85.2 °C; a heartbeat (every 5 s) then reports it.
        await rig.AdvanceUntilAsync(() => presence.Get("pi-hall").LastHeartbeat?["sensorErrors"]?.GetValue<long>() >= 1, TimeSpan.FromSeconds(30), "a heartbeat with a sensor error");

        Assert.NotEmpty(hardware!.Reads);
        Assert.Equal(0, ReadingsDb.Scalar(rig.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'pi-hall'"));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Category == "IotWs.Gateway.LocalSensors.pi-hall"
            && e.Message == "pi-hall: implausible reading dropped: temperature 85.2 is outside -40..80");
        var health = await rig.GetJsonAsync("/api/alerts/sensors");
        var mine = health.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("deviceId").GetString() == "pi-hall");
        Assert.True(mine.GetProperty("failedReads").GetInt64() >= 1, mine.ToString());
        var device = await rig.GetJsonAsync("/api/devices/pi-hall");
        Assert.DoesNotContain("85.2", device.ToString(), StringComparison.Ordinal);

        // Back in range, the next reading is stored as usual.
        hardware.Temperature = 21.34;
        await rig.AdvanceUntilAsync(() => ReadingsDb.Scalar(rig.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'pi-hall'") == 1, TimeSpan.FromSeconds(20), "the in-range reading stored");
        Assert.Equal(21.3, ReadingsDb.Rows(rig.DataDir, "SELECT temperature FROM readings WHERE device_id = 'pi-hall'").Single()[0]);
    }
}
