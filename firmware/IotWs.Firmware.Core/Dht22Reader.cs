namespace IotWs.Firmware.Core
{
    /// <summary>
    /// One reading from a DHT22 binding, in the only safe order: Temperature, its success flag,
    /// then Humidity and its flag. After a failed temperature read the humidity getter would read
    /// the sensor again, and that read's success would hide the failed temperature, so it is never
    /// asked. The range check is left to <see cref="IotWs.Protocol.ReadingRules"/> in the core.
    /// </summary>
    public class Dht22Reader : ISensor
    {
        private readonly IDhtBinding _binding;
        private long _temperatureFailures;
        private long _humidityFailures;

        /// <summary>Reads through the given binding.</summary>
        public Dht22Reader(IDhtBinding binding)
        {
            _binding = binding;
        }

        /// <summary>Reads whose temperature failed (humidity then not read).</summary>
        public long TemperatureFailures
        {
            get { return _temperatureFailures; }
        }

        /// <summary>Reads whose temperature succeeded but whose humidity failed.</summary>
        public long HumidityFailures
        {
            get { return _humidityFailures; }
        }

        /// <inheritdoc/>
        public bool TryRead(out double temperature, out double humidity)
        {
            humidity = 0;
            if (!_binding.ReadTemperature(out temperature))
            {
                temperature = 0;
                _temperatureFailures++;
                return false;
            }
            if (!_binding.ReadHumidity(out humidity))
            {
                temperature = 0;
                humidity = 0;
                _humidityFailures++;
                return false;
            }
            return true;
        }
    }
}
