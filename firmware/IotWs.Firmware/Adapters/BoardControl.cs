using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>Reboot, identify blink and free memory on the ESP32.</summary>
    public class BoardControl : IDeviceControl
    {
        private readonly StatusLed _led;

        /// <summary>Creates the control around the status LED.</summary>
        public BoardControl(StatusLed led)
        {
            _led = led;
        }

        /// <inheritdoc/>
        public void Reboot()
        {
            nanoFramework.Runtime.Native.Power.RebootDevice();
        }

        /// <inheritdoc/>
        public void Identify(int durationMs)
        {
            _led.Blink(durationMs);
        }

        /// <inheritdoc/>
        public long FreeMemory
        {
            // GC.Run returns the free bytes after a collection; without compaction it is quick.
            get { return nanoFramework.Runtime.Native.GC.Run(false); }
        }

        /// <inheritdoc/>
        public int Rssi
        {
            // nanoFramework has no cheap RSSI read for the connected AP (only a full scan): unknown.
            get { return 0; }
        }
    }
}
