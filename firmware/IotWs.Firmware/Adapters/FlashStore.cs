using System;
using System.Collections;
using System.IO;
using IotWs.Firmware.Core;
using nanoFramework.Json;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The core's store as one small JSON file on internal flash (I:\). Written only on boot,
    /// set_interval and before a reboot, so flash wear is negligible.
    /// </summary>
    public class FlashStore : IStore
    {
        private readonly string _path;
        private readonly Hashtable _values;

        /// <summary>Opens the file; a missing or unreadable file starts empty.</summary>
        public FlashStore(string path)
        {
            _path = path;
            _values = Load(path);
        }

        /// <inheritdoc/>
        public string Get(string key)
        {
            // nanoFramework.Json may hand back a number or a date for a string that looks like one.
            object value = _values[key];
            if (value == null) return null;
            string text = value as string;
            return text != null ? text : value.ToString();
        }

        /// <inheritdoc/>
        public void Set(string key, string value)
        {
            _values[key] = value;
            Save();
        }

        /// <inheritdoc/>
        public void Remove(string key)
        {
            if (!_values.Contains(key)) return;
            _values.Remove(key);
            Save();
        }

        private void Save()
        {
            File.WriteAllText(_path, JsonConvert.SerializeObject(_values));
        }

        private static Hashtable Load(string path)
        {
            try
            {
                if (File.Exists(path))
                {
                    Hashtable stored = JsonConvert.DeserializeObject(File.ReadAllText(path), typeof(Hashtable)) as Hashtable;
                    if (stored != null) return stored;
                }
            }
            catch (Exception)
            {
                // A torn write after a power cut: start over rather than not boot.
            }
            return new Hashtable();
        }
    }
}
