using System;
using System.Collections;
using System.Diagnostics;
using System.Threading;
using IotWs.Firmware.Adapters;
using IotWs.Firmware.Core;

namespace IotWs.Firmware
{
    /// <summary>Boots the board: config, LED, watchdog, WiFi, then the core's loop forever.</summary>
    public class Program
    {
        private const int LoopSleepMs = 50;
        private const int WatchdogTimeoutMs = 120000;
        private const int WifiTimeoutMs = 60000;

        /// <summary>Entry point.</summary>
        public static void Main()
        {
            Debug.WriteLine("IotWs firmware " + DeviceInfo.FirmwareVersion);

            Hashtable config = ConfigFile.Load();
            string error = "I:\\config.json is missing or unreadable";
            DeviceSettings settings = config == null ? null : DeviceSettings.FromConfig(config, out error);
            StatusLed led = new StatusLed(config == null ? 2 : ConfigFile.Pin(config, ConfigKeys.LedPin, 2));
            if (settings == null)
            {
                // Nothing sensible to do without a config: say why and blink until someone flashes one.
                Debug.WriteLine("config: " + error);
                while (true)
                {
                    led.Blink(1000);
                    Thread.Sleep(3000);
                }
            }

            SoftwareWatchdog watchdog = new SoftwareWatchdog(WatchdogTimeoutMs);
            watchdog.Start();

            WifiLink wifi = new WifiLink(WireValues.GetString(config, ConfigKeys.WifiSsid), WireValues.GetString(config, ConfigKeys.WifiPassword));
            while (!wifi.Connect(WifiTimeoutMs))
            {
                watchdog.Feed();
                Thread.Sleep(5000);
            }
            watchdog.Feed();

            DevicePorts ports = new DevicePorts();
            ports.Transport = new WebSocketLink();
            ports.Sensor = new Dht22Sensor(ConfigFile.Pin(config, ConfigKeys.DhtEchoPin, 12), ConfigFile.Pin(config, ConfigKeys.DhtTriggerPin, 14));
            ports.Clock = new BoardClock();
            ports.Store = FlashStore.Open("I:\\iotws-state");
            ports.Device = new BoardControl(led);
            ports.Log = new DebugLog();
            ports.Json = new NanoJsonCodec();
            ports.Random = new BoardRandom();

            DeviceCore core = new DeviceCore(settings, ports);
            core.Start();

            long offlineSince = -1;
            while (true)
            {
                try
                {
                    core.Tick();
                }
                catch (Exception ex)
                {
                    Debug.WriteLine("tick failed: " + ex.Message);
                }
                watchdog.Feed();
                led.Show(core.IsRunning);

                // The driver re-joins by itself; if the address stays gone for 30 s, join again.
                long now = Environment.TickCount64;
                if (wifi.TakeAddressChanged() || offlineSince >= 0)
                {
                    if (wifi.HasAddress) offlineSince = -1;
                    else if (offlineSince < 0) offlineSince = now;
                    else if (now - offlineSince > 30000)
                    {
                        wifi.Connect(WifiTimeoutMs);
                        offlineSince = -1;
                    }
                }
                Thread.Sleep(LoopSleepMs);
            }
        }
    }
}
