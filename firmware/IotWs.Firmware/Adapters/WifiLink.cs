using System;
using System.Device.Wifi;
using System.Diagnostics;
using System.Net.NetworkInformation;
using System.Threading;
using IotWs.Firmware.Core;
using nanoFramework.Networking;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The core's WiFi radio on WifiNetworkHelper: one call each, no retry loop here (the core's
    /// WifiSupervisor decides when to join and when to wait). Only the Wireless80211 interface counts.
    /// </summary>
    public class WifiLink : IWifiRadio
    {
        private string _lastStatus = "none";

        /// <inheritdoc/>
        public bool HasAddress
        {
            get
            {
                NetworkInterface wifi = Wireless();
                if (wifi == null) return false;
                string address = wifi.IPv4Address;
                return address != null && address.Length > 0 && address != "0.0.0.0";
            }
        }

        /// <inheritdoc/>
        public string LastStatus
        {
            get { return _lastStatus; }
        }

        /// <inheritdoc/>
        public bool HoldsCredentials(string ssid, string password)
        {
            try
            {
                NetworkInterface wifi = Wireless();
                if (wifi == null) return false;
                Wireless80211Configuration stored = Wireless80211Configuration.GetAllWireless80211Configurations()[wifi.SpecificConfigId];
                bool autoConnect = (stored.Options & Wireless80211Configuration.ConfigurationOptions.AutoConnect) == Wireless80211Configuration.ConfigurationOptions.AutoConnect;
                return autoConnect && stored.Ssid == ssid && stored.Password == password;
            }
            catch (Exception ex)
            {
                Debug.WriteLine("wifi: stored configuration unreadable: " + ex.Message);
                return false;
            }
        }

        /// <inheritdoc/>
        public bool Join(string ssid, string password, int timeoutMs)
        {
            // ConnectDhcp stores the credentials (SaveConfiguration) and connects with Automatic
            // reconnection, so the driver re-joins by itself after a drop. SNTP is started separately:
            // a slow time server must not fail the WiFi.
            using (CancellationTokenSource timeout = new CancellationTokenSource(timeoutMs))
            {
                bool ok = WifiNetworkHelper.ConnectDhcp(ssid, password, WifiReconnectionKind.Automatic, false, 0, timeout.Token);
                Remember(ok);
                return ok;
            }
        }

        /// <inheritdoc/>
        public bool WaitForReconnect(int timeoutMs)
        {
            using (CancellationTokenSource timeout = new CancellationTokenSource(timeoutMs))
            {
                bool ok = WifiNetworkHelper.Reconnect(false, 0, timeout.Token);
                Remember(ok);
                return ok;
            }
        }

        /// <summary>Starts SNTP once the board is online; until it answers, readings carry uptime instead of wall time.</summary>
        public static void StartTimeSync()
        {
            try
            {
                Sntp.Start();
                Sntp.UpdateNow();
            }
            catch (Exception ex)
            {
                Debug.WriteLine("sntp: " + ex.Message);
            }
        }

        // ConnectDhcp and Reconnect never throw: what went wrong is only in Status and HelperException.
        private void Remember(bool ok)
        {
            Exception error = WifiNetworkHelper.HelperException;
            _lastStatus = "status " + StatusName(WifiNetworkHelper.Status)
                + (ok || error == null ? "" : ", " + error.GetType().Name + ": " + error.Message);
        }

        private static NetworkInterface Wireless()
        {
            NetworkInterface[] interfaces = NetworkInterface.GetAllNetworkInterfaces();
            for (int i = 0; i < interfaces.Length; i++)
            {
                if (interfaces[i].NetworkInterfaceType == NetworkInterfaceType.Wireless80211) return interfaces[i];
            }
            return null;
        }

        // Enum names are not kept on the device: spell them out for the log.
        private static string StatusName(NetworkHelperStatus status)
        {
            switch (status)
            {
                case NetworkHelperStatus.None: return "None";
                case NetworkHelperStatus.Started: return "Started";
                case NetworkHelperStatus.NetworkIsReady: return "NetworkIsReady";
                case NetworkHelperStatus.FailedNoNetworkInterface: return "FailedNoNetworkInterface";
                case NetworkHelperStatus.TokenExpiredWaitingIPAddress: return "TokenExpiredWaitingIPAddress";
                case NetworkHelperStatus.TokenExpiredWaitingDateTime: return "TokenExpiredWaitingDateTime";
                case NetworkHelperStatus.ErrorConnetingToWiFiWhileScanning: return "ErrorConnetingToWiFiWhileScanning";
                case NetworkHelperStatus.ExceptionOccurred: return "ExceptionOccurred";
                case NetworkHelperStatus.Reconnecting: return "Reconnecting";
                default: return ((int)status).ToString();
            }
        }
    }
}
