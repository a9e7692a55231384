using IotWs.Firmware.Tests.Fakes;

namespace IotWs.Firmware.Tests;

/// <summary>SensorRetries: a failed read is tried again after SensorRetryMs, never sooner than the DHT22's 2 s, and each try counts.</summary>
public class SensorRetryTests
{
    /// <summary>Clock ticks at which the sensor was read, from the rig's start.</summary>
    private static List<long> ReadTimes(DeviceRig rig, long ms, Func<long, bool>? failingAt = null)
    {
        var start = rig.Clock.TickCount;
        var times = new List<long>();
        for (long t = 0; t < ms; t += 50)
        {
            rig.Clock.Advance(50);
            var before = rig.Sensor.Reads;
            rig.Sensor.Failing = failingAt?.Invoke(rig.Clock.TickCount - start) ?? rig.Sensor.Failing;
            rig.Core.Tick();
            if (rig.Sensor.Reads != before) times.Add(rig.Clock.TickCount - start);
        }
        return times;
    }

    [Fact]
    public void Failed_reads_are_retried_every_retry_delay_until_one_works_then_the_interval_grid_resumes()
    {
        var rig = new DeviceRig(s =>
        {
            s.ReadingIntervalMs = 10_000;
            s.SensorRetries = 3;
            s.SensorRetryMs = 2000;
        });
        // Failing until 14 s: reads at 10 s and 12 s fail, 14 s works; the next reading is at 20 s as planned.
        var times = ReadTimes(rig, 25_000, t => t < 14_000);
        Assert.Equal(new long[] { 10_000, 12_000, 14_000, 20_000 }, times);
        Assert.Equal(2, rig.Core.SensorFailures);
        Assert.Equal(2, rig.Core.ReadingsTaken);
    }

    [Fact]
    public void Retries_stop_at_the_limit_and_never_crowd_the_next_reading()
    {
        var rig = new DeviceRig(s =>
        {
            s.ReadingIntervalMs = 5000;
            s.SensorRetries = 10;
            s.SensorRetryMs = 2000;
        });
        rig.Sensor.Failing = true;
        var times = ReadTimes(rig, 16_000);
        // 5 s fails, retries at 7 s and 9 s; 11 s would be past the next reading (10 s), which comes
        // 2 s after the last try at the earliest: 11 s; then 13 s, 15 s (retries of that reading).
        Assert.Equal(new long[] { 5000, 7000, 9000, 11_000, 13_000 }, times.Where(t => t < 15_000));
        Assert.All(times.Zip(times.Skip(1)), p => Assert.True(p.Second - p.First >= 2000, $"{p.First} → {p.Second}"));
        Assert.Equal(times.Count, rig.Core.SensorFailures);
    }

    [Fact]
    public void A_retry_delay_under_two_seconds_is_raised_to_two_seconds()
    {
        var rig = new DeviceRig(s =>
        {
            s.ReadingIntervalMs = 60_000;
            s.SensorRetries = 2;
            s.SensorRetryMs = 100;
        });
        rig.Sensor.Failing = true;
        var times = ReadTimes(rig, 65_000);
        Assert.Equal(new long[] { 60_000, 62_000, 64_000 }, times);
    }

    [Fact]
    public void Without_retries_a_failed_read_waits_for_the_next_reading_as_before()
    {
        var rig = new DeviceRig(s => s.ReadingIntervalMs = 5000);
        rig.Sensor.Failing = true;
        var times = ReadTimes(rig, 16_000);
        Assert.Equal(new long[] { 5000, 10_000, 15_000 }, times);
    }
}
