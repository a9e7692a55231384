namespace IotWs.Firmware.Core
{
    /// <summary>The adapters a <see cref="DeviceCore"/> runs on, grouped so the constructor stays readable.</summary>
    public class DevicePorts
    {
        /// <summary>Link to the gateway.</summary>
        public ITransport Transport;

        /// <summary>The DHT22 (or a simulation).</summary>
        public ISensor Sensor;

        /// <summary>Time source.</summary>
        public IClock Clock;

        /// <summary>Persistent settings, boot counter and spilled readings.</summary>
        public IStore Store;

        /// <summary>Reboot, LED, memory, RSSI.</summary>
        public IDeviceControl Device;

        /// <summary>Diagnostics.</summary>
        public ILog Log;

        /// <summary>JSON codec.</summary>
        public IJsonCodec Json;

        /// <summary>Jitter source.</summary>
        public IRandomSource Random;
    }
}
