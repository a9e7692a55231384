namespace IotWs.Firmware.Core
{
    /// <summary>
    /// The board's WiFi station (nanoFramework's WifiNetworkHelper on the ESP32, a fake in tests).
    /// Calls may block up to their timeout; <see cref="WifiSupervisor"/> decides which one to make.
    /// </summary>
    public interface IWifiRadio
    {
        /// <summary>True while the Wireless80211 interface has an IPv4 address.</summary>
        bool HasAddress { get; }

        /// <summary>
        /// True when flash already holds these credentials with automatic reconnection, so the driver
        /// joins by itself and <see cref="Join"/> would only write the same bytes again.
        /// </summary>
        bool HoldsCredentials(string ssid, string password);

        /// <summary>
        /// Stores the credentials on flash (one write), connects with automatic reconnection and waits
        /// up to timeoutMs for an address.
        /// </summary>
        bool Join(string ssid, string password, int timeoutMs);

        /// <summary>Waits up to timeoutMs for the driver's own reconnection to give an address. Writes nothing.</summary>
        bool WaitForReconnect(int timeoutMs);

        /// <summary>What the last Join or WaitForReconnect ended with (the helper's Status and HelperException), for the log.</summary>
        string LastStatus { get; }
    }
}
