using System;
using System.Device.Wifi;
using System.Diagnostics;
using System.Net.NetworkInformation;
using System.Threading;
using nanoFramework.Networking;

namespace IotWs.Firmware.Adapters
{
    /// <summary>Joins the WiFi network (DHCP) with a timeout, starts SNTP, and notices when the address goes away.</summary>
    public class WifiLink
    {
        private readonly string _ssid;
        private readonly string _password;
        private bool _addressChanged;

        /// <summary>Creates the link for one network.</summary>
        public WifiLink(string ssid, string password)
        {
            _ssid = ssid;
            _password = password;
            NetworkChange.NetworkAddressChanged += OnAddressChanged;
        }

        /// <summary>Connects and waits for an address, at most timeoutMs (the default would wait forever).</summary>
        public bool Connect(int timeoutMs)
        {
            CancellationTokenSource cs = new CancellationTokenSource(timeoutMs);
            bool ok;
            try
            {
                // The driver itself re-joins after a drop (Automatic); time comes from SNTP below, so
                // a slow time server does not fail the WiFi connection.
                ok = WifiNetworkHelper.ConnectDhcp(_ssid, _password, WifiReconnectionKind.Automatic, false, 0, cs.Token);
            }
            catch (Exception ex)
            {
                Debug.WriteLine("wifi: " + ex.Message);
                ok = false;
            }
            if (!ok)
            {
                Debug.WriteLine("wifi: not connected, status " + WifiNetworkHelper.Status);
                return false;
            }
            try
            {
                Sntp.Start();
                Sntp.UpdateNow();
            }
            catch (Exception ex)
            {
                // Until SNTP answers, readings carry uptime instead of wall time; the gateway copes.
                Debug.WriteLine("sntp: " + ex.Message);
            }
            return true;
        }

        /// <summary>True while the interface has an IPv4 address.</summary>
        public bool HasAddress
        {
            get
            {
                NetworkInterface[] interfaces = NetworkInterface.GetAllNetworkInterfaces();
                if (interfaces.Length == 0) return false;
                string address = interfaces[0].IPv4Address;
                return address != null && address.Length > 0 && address != "0.0.0.0";
            }
        }

        /// <summary>True once after each address change (set from the network thread).</summary>
        public bool TakeAddressChanged()
        {
            bool changed = _addressChanged;
            _addressChanged = false;
            return changed;
        }

        private void OnAddressChanged(object sender, EventArgs e)
        {
            _addressChanged = true;
        }
    }
}
