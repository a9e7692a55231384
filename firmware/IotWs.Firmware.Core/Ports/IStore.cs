namespace IotWs.Firmware.Core
{
    /// <summary>Persistent string key/value storage (flash on the ESP32, a file or memory on .NET).</summary>
    public interface IStore
    {
        /// <summary>The stored value, or null when the key is missing.</summary>
        string Get(string key);

        /// <summary>Stores a value durably.</summary>
        void Set(string key, string value);

        /// <summary>Removes a key; no error when it is missing.</summary>
        void Remove(string key);
    }
}
