namespace IotWs.Firmware.Core
{
    /// <summary>
    /// The DHT22 binding as the board has it (Iot.Device.DHTxx.Esp32.Dht22): reading a value may
    /// read the sensor again, and the binding's success flag describes only the latest read.
    /// </summary>
    public interface IDhtBinding
    {
        /// <summary>Reads Temperature, then checks IsLastReadSuccessful; false (and 0) when that read failed.</summary>
        bool ReadTemperature(out double celsius);

        /// <summary>Reads Humidity, then checks IsLastReadSuccessful; false (and 0) when that read failed.</summary>
        bool ReadHumidity(out double percent);
    }
}
