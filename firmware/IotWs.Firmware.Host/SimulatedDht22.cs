using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>
/// A DHT22 in a room: values drift slowly towards a wandering target with a little noise, and a
/// configurable share of reads fail like a real sensor's checksum errors.
/// </summary>
public sealed class SimulatedDht22 : ISensor
{
    private readonly Random _random;
    private readonly double _failureRate;
    private double _temperature;
    private double _humidity;
    private double _targetTemperature;
    private double _targetHumidity;
    private volatile bool _failing;

    /// <summary>Creates a sensor; the seed decides its room's climate and its noise.</summary>
    public SimulatedDht22(int seed, double failureRate)
    {
        _random = new Random(seed);
        _failureRate = Math.Clamp(failureRate, 0, 1);
        _temperature = _targetTemperature = 19 + _random.NextDouble() * 6;
        _humidity = _targetHumidity = 35 + _random.NextDouble() * 25;
    }

    /// <summary>When true every read fails, as with a loose wire.</summary>
    public bool ForcedFailing
    {
        get => _failing;
        set => _failing = value;
    }

    /// <inheritdoc/>
    public bool TryRead(out double temperature, out double humidity)
    {
        // The room keeps changing whether or not the read succeeds.
        if (_random.NextDouble() < 0.01)
        {
            _targetTemperature = Math.Clamp(_targetTemperature + (_random.NextDouble() - 0.5) * 4, 5, 35);
            _targetHumidity = Math.Clamp(_targetHumidity + (_random.NextDouble() - 0.5) * 10, 15, 90);
        }
        _temperature += (_targetTemperature - _temperature) * 0.02 + (_random.NextDouble() - 0.5) * 0.1;
        _humidity += (_targetHumidity - _humidity) * 0.02 + (_random.NextDouble() - 0.5) * 0.4;

        temperature = _temperature;
        humidity = Math.Clamp(_humidity, 0, 100);
        if (_failing || _random.NextDouble() < _failureRate)
        {
            temperature = double.NaN;
            humidity = double.NaN;
            return false;
        }
        return true;
    }
}
