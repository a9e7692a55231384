namespace IotWs.Firmware.Core
{
    /// <summary>The board itself: restart, identify LED, memory and radio figures.</summary>
    public interface IDeviceControl
    {
        /// <summary>Restarts the board. On hardware this does not return.</summary>
        void Reboot();

        /// <summary>Blinks the status LED for about the given time so a person can find the board.</summary>
        void Identify(int durationMs);

        /// <summary>Free heap in bytes.</summary>
        long FreeMemory { get; }

        /// <summary>WiFi signal in dBm, or 0 when unknown.</summary>
        int Rssi { get; }
    }
}
