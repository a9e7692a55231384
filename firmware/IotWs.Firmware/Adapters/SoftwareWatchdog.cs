using System;
using System.Diagnostics;
using System.Threading;
using nanoFramework.Runtime.Native;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// nanoFramework has no managed watchdog API: this thread reboots the board when the main loop
    /// has not called <see cref="Feed"/> for too long (a hung socket call, a deadlock).
    /// </summary>
    public class SoftwareWatchdog
    {
        private readonly int _timeoutMs;
        private readonly object _lock = new object();
        private long _lastFed;

        /// <summary>Creates a watchdog; call Start once the loop is about to run.</summary>
        public SoftwareWatchdog(int timeoutMs)
        {
            _timeoutMs = timeoutMs;
            _lastFed = Environment.TickCount64;
        }

        /// <summary>The loop is alive.</summary>
        public void Feed()
        {
            lock (_lock)
            {
                _lastFed = Environment.TickCount64;
            }
        }

        /// <summary>Starts watching.</summary>
        public void Start()
        {
            Feed();
            new Thread(Watch).Start();
        }

        private void Watch()
        {
            while (true)
            {
                Thread.Sleep(5000);
                long lastFed;
                lock (_lock)
                {
                    lastFed = _lastFed;
                }
                long silent = Environment.TickCount64 - lastFed;
                if (silent > _timeoutMs)
                {
                    Debug.WriteLine("watchdog: main loop stuck for " + silent + " ms, rebooting");
                    Power.RebootDevice();
                }
            }
        }
    }
}
