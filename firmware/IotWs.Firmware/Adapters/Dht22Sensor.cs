using Iot.Device.DHTxx.Esp32;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>The DHT22 through the RMT-based Dhtxx.Esp32 binding: two GPIOs both wired to DATA.</summary>
    public class Dht22Sensor : ISensor
    {
        private readonly Dht22 _dht;

        /// <summary>Opens the sensor; the binding's constructor sleeps about a second.</summary>
        public Dht22Sensor(int echoPin, int triggerPin)
        {
            _dht = new Dht22(echoPin, triggerPin);
        }

        /// <inheritdoc/>
        public bool TryRead(out double temperature, out double humidity)
        {
            temperature = 0;
            humidity = 0;
            // Reading Temperature performs the read; on failure both getters return default and
            // .DegreesCelsius on that throws, so the flag is checked first.
            var t = _dht.Temperature;
            var h = _dht.Humidity;
            if (!_dht.IsLastReadSuccessful) return false;
            temperature = t.DegreesCelsius;
            humidity = h.Percent;
            // The binding does no range check; the core validates with ReadingRules.
            return true;
        }
    }
}
