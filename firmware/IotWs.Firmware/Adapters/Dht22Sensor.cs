using Iot.Device.DHTxx.Esp32;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The DHT22 through the RMT-based Dhtxx.Esp32 binding (two GPIOs both wired to DATA). Each
    /// getter may read the sensor, so each value is checked right after it is read; the order
    /// (temperature first, humidity only after a good temperature) is the core's Dht22Reader.
    /// </summary>
    public class Dht22Sensor : IDhtBinding
    {
        private readonly Dht22 _dht;

        /// <summary>Opens the sensor; the binding's constructor sleeps about a second.</summary>
        public Dht22Sensor(int echoPin, int triggerPin)
        {
            _dht = new Dht22(echoPin, triggerPin);
        }

        /// <inheritdoc/>
        public bool ReadTemperature(out double celsius)
        {
            celsius = 0;
            var t = _dht.Temperature;
            // On a failed read the getter returns default, and .DegreesCelsius on that throws.
            if (!_dht.IsLastReadSuccessful) return false;
            celsius = t.DegreesCelsius;
            return true;
        }

        /// <inheritdoc/>
        public bool ReadHumidity(out double percent)
        {
            percent = 0;
            var h = _dht.Humidity;
            if (!_dht.IsLastReadSuccessful) return false;
            percent = h.Percent;
            return true;
        }
    }
}
