namespace IotWs.Firmware.Core
{
    /// <summary>Firmware identity reported in the handshake.</summary>
    public static class DeviceInfo
    {
        public const string FirmwareVersion = "1.0.0";
        public const string Model = "ESP32 + DHT22";
    }
}
