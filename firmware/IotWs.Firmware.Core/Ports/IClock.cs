using System;

namespace IotWs.Firmware.Core
{
    /// <summary>Wall-clock time (may be unsynced after boot) and a monotonic millisecond counter.</summary>
    public interface IClock
    {
        /// <summary>The wall-clock time in UTC; before SNTP runs on the ESP32 this is near year 1970/2000.</summary>
        DateTime UtcNow { get; }

        /// <summary>Milliseconds since an arbitrary start; never goes backwards.</summary>
        long TickCount { get; }
    }
}
