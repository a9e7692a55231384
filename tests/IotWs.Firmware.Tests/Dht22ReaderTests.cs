using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

/// <summary>
/// The binding's behaviour that bit us: every getter may read the sensor, the success flag is that of
/// the latest read only, and a read within a second returns the cached frame. Reads are scripted.
/// </summary>
internal sealed class ScriptedDhtBinding : IDhtBinding
{
    private readonly Queue<bool> _reads = new();
    private bool _lastOk;

    public double Celsius { get; set; } = 21.5;
    public double Percent { get; set; } = 45;
    public int SensorReads { get; private set; }
    public List<string> Getters { get; } = [];

    /// <summary>The outcomes of the next sensor reads, in order; when empty, reads succeed.</summary>
    public void Script(params bool[] outcomes)
    {
        foreach (var o in outcomes) _reads.Enqueue(o);
    }

    public bool ReadTemperature(out double celsius)
    {
        Getters.Add("temperature");
        ReadSensor();
        celsius = _lastOk ? Celsius : 0;
        return _lastOk;
    }

    public bool ReadHumidity(out double percent)
    {
        Getters.Add("humidity");
        // The binding re-reads after a failed frame and serves a good one from its cache.
        if (!_lastOk) ReadSensor();
        percent = _lastOk ? Percent : 0;
        return _lastOk;
    }

    private void ReadSensor()
    {
        SensorReads++;
        _lastOk = _reads.Count == 0 || _reads.Dequeue();
    }
}

public class Dht22ReaderTests
{
    [Fact]
    public void A_failed_temperature_fails_the_reading_and_humidity_is_not_read()
    {
        var binding = new ScriptedDhtBinding();
        binding.Script(false, true); // the re-read a humidity getter would make succeeds
        var reader = new Dht22Reader(binding);

        Assert.False(reader.TryRead(out var t, out var h));

        Assert.Equal(["temperature"], binding.Getters);
        Assert.Equal(1, binding.SensorReads);
        Assert.Equal(0, t);
        Assert.Equal(0, h);
        Assert.Equal(1, reader.TemperatureFailures);
    }

    [Fact]
    public void A_good_temperature_then_a_failed_humidity_fails_the_reading()
    {
        var binding = new FailingHumidityBinding();
        var reader = new Dht22Reader(binding);

        Assert.False(reader.TryRead(out var t, out var h));

        Assert.Equal(0, t);
        Assert.Equal(0, h);
        Assert.Equal(1, reader.HumidityFailures);
        Assert.Equal(0, reader.TemperatureFailures);
    }

    [Fact]
    public void A_good_read_gives_both_values_from_one_frame()
    {
        var binding = new ScriptedDhtBinding { Celsius = 19.3, Percent = 61.2 };
        var reader = new Dht22Reader(binding);

        Assert.True(reader.TryRead(out var t, out var h));

        Assert.Equal(19.3, t);
        Assert.Equal(61.2, h);
        Assert.Equal(["temperature", "humidity"], binding.Getters);
        Assert.Equal(1, binding.SensorReads);
    }

    [Fact]
    public void The_core_counts_a_failed_temperature_as_a_sensor_error_and_spends_no_seq()
    {
        var binding = new ScriptedDhtBinding();
        binding.Script(false, true, true);
        var rig = new DeviceRig(sensor: new Dht22Reader(binding));
        rig.ConnectAndAuthenticate();

        rig.Advance(2000);
        Assert.Equal(1, rig.Core.SensorFailures);
        Assert.Equal(0, rig.Core.LastSeq);
        Assert.Empty(rig.Sent(MessageTypes.Data));

        rig.Advance(2000);
        Assert.Equal(1, rig.Core.LastSeq);
        var data = Assert.Single(rig.Sent(MessageTypes.Data));
        var reading = (System.Collections.Hashtable)data[Fields.Data]!;
        Assert.Equal(21.5, Convert.ToDouble(reading[Fields.Temperature], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(45.0, Convert.ToDouble(reading[Fields.Humidity], System.Globalization.CultureInfo.InvariantCulture));
    }

    private sealed class FailingHumidityBinding : IDhtBinding
    {
        public bool ReadTemperature(out double celsius)
        {
            celsius = 22;
            return true;
        }

        public bool ReadHumidity(out double percent)
        {
            percent = 0;
            return false;
        }
    }
}
