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

        /// <summary>Entry point.</summary>
        public static void Main()
        {
            Debug.WriteLine("IotWs firmware " + DeviceInfo.FirmwareVersion);

            Hashtable config = ConfigFile.Load();
            string error = "I:\\config.json is missing or unreadable";
            DeviceSettings settings = config == null ? null : DeviceSettings.FromConfig(config, out error);
            string ssid = WireValues.GetString(config, ConfigKeys.WifiSsid);
            if (settings != null && (ssid == null || ssid.Length == 0))
            {
                settings = null;
                error = ConfigKeys.WifiSsid + " is required";
            }
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

            BoardClock clock = new BoardClock();
            BoardRandom random = new BoardRandom();
            DebugLog log = new DebugLog();

            // Join once, then the driver reconnects by itself; the supervisor only waits for it
            // (see WifiSupervisor: no flash write in a loop).
            WifiSupervisor wifi = new WifiSupervisor(
                ssid, WireValues.GetString(config, ConfigKeys.WifiPassword) ?? "",
                new WifiLink(), clock, new BoardRandom(), log);
            while (!wifi.IsOnline)
            {
                wifi.Step();
                SleepFeeding(watchdog, wifi.MsUntilNextStep);
            }
            WifiLink.StartTimeSync();
            // From here on the supervisor runs on its own thread: a wait for the driver blocks for up
            // to 20 s, and the loop must keep reading the sensor meanwhile.
            new Thread(() =>
            {
                while (true)
                {
                    wifi.Step();
                    Thread.Sleep(500);
                }
            }).Start();

            DevicePorts ports = new DevicePorts();
            ports.Transport = new WebSocketLink(settings, log);
            ports.Sensor = new Dht22Reader(new Dht22Sensor(ConfigFile.Pin(config, ConfigKeys.DhtEchoPin, 12), ConfigFile.Pin(config, ConfigKeys.DhtTriggerPin, 14)));
            ports.Clock = clock;
            ports.Store = FlashStore.Open("I:\\iotws-state");
            ports.Device = new BoardControl(led);
            ports.Log = log;
            ports.Json = new NanoJsonCodec();
            ports.Random = random;

            DeviceCore core = new DeviceCore(settings, ports);
            core.Start();

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
                Thread.Sleep(LoopSleepMs);
            }
        }

        // Sleeps in slices so the watchdog stays fed through a long backoff.
        private static void SleepFeeding(SoftwareWatchdog watchdog, long ms)
        {
            while (ms > 0)
            {
                int slice = ms > 1000 ? 1000 : (int)ms;
                Thread.Sleep(slice);
                ms -= slice;
                watchdog.Feed();
            }
            watchdog.Feed();
        }
    }
}
