using System;
using System.Collections;
using System.Diagnostics;
using System.IO;
using IotWs.Firmware.Core;
using nanoFramework.Json;

namespace IotWs.Firmware.Adapters
{
    /// <summary>Reads I:\config.json (uploaded by flash.ps1): WiFi, gateway, identity, intervals, pins.</summary>
    public static class ConfigFile
    {
        public const string FilePath = "I:\\config.json";

        /// <summary>The parsed file, or null when it is missing or not a JSON object.</summary>
        public static Hashtable Load()
        {
            try
            {
                if (!File.Exists(FilePath)) return null;
                return JsonConvert.DeserializeObject(File.ReadAllText(FilePath), typeof(Hashtable)) as Hashtable;
            }
            catch (Exception ex)
            {
                Debug.WriteLine("config: " + ex.Message);
                return null;
            }
        }

        /// <summary>A pin number from the config, or the board default.</summary>
        public static int Pin(Hashtable config, string key, int fallback)
        {
            int pin;
            return WireValues.TryGetInt(config[key], out pin) && pin >= 0 && pin < 40 ? pin : fallback;
        }
    }
}
