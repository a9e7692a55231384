using System;
using System.Diagnostics;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>Wall clock (set by SNTP) and the millisecond tick counter.</summary>
    public class BoardClock : IClock
    {
        /// <inheritdoc/>
        public DateTime UtcNow
        {
            get { return DateTime.UtcNow; }
        }

        /// <inheritdoc/>
        public long TickCount
        {
            get { return Environment.TickCount64; }
        }
    }

    /// <summary>System.Random for backoff jitter.</summary>
    public class BoardRandom : IRandomSource
    {
        private readonly Random _random = new Random();

        /// <inheritdoc/>
        public int Next(int maxExclusive)
        {
            return _random.Next(maxExclusive);
        }
    }

    /// <summary>Logs to the debugger output (visible in Visual Studio while attached).</summary>
    public class DebugLog : ILog
    {
        /// <inheritdoc/>
        public void Info(string message)
        {
            Debug.WriteLine("[info] " + message);
        }

        /// <inheritdoc/>
        public void Warn(string message)
        {
            Debug.WriteLine("[warn] " + message);
        }
    }
}
