namespace IotWs.Firmware.Core
{
    /// <summary>A temperature/humidity sensor (a DHT22 on the board).</summary>
    public interface ISensor
    {
        /// <summary>Reads the sensor; false when the read failed (values are then meaningless).</summary>
        bool TryRead(out double temperature, out double humidity);
    }
}
