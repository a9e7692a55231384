using System;
using System.Collections;
using IotWs.Firmware.Core;
using nanoFramework.Json;

namespace IotWs.Firmware.Adapters
{
    /// <summary>The core's codec on nanoFramework.Json: objects to Hashtable, arrays to ArrayList.</summary>
    public class NanoJsonCodec : IJsonCodec
    {
        /// <inheritdoc/>
        public string Serialize(Hashtable message)
        {
            return JsonConvert.SerializeObject(message);
        }

        /// <inheritdoc/>
        public Hashtable Parse(string text)
        {
            try
            {
                return JsonConvert.DeserializeObject(text, typeof(Hashtable)) as Hashtable;
            }
            catch (Exception)
            {
                // The parser throws on what it cannot read (e.g. "\/"); the core treats that as garbage.
                return null;
            }
        }
    }
}
