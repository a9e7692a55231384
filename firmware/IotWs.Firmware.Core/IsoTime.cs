using System;

namespace IotWs.Firmware.Core
{
    /// <summary>ISO-8601 UTC timestamps with milliseconds, written by hand because nanoFramework's custom format support is partial.</summary>
    public static class IsoTime
    {
        /// <summary>The first year we trust the clock: an unsynced ESP32 clock starts far earlier.</summary>
        public const int FirstSyncedYear = 2020;

        /// <summary>True when the wall clock has been set (by SNTP on the ESP32).</summary>
        public static bool IsSynced(DateTime utc)
        {
            return utc.Year >= FirstSyncedYear;
        }

        /// <summary>Formats as 2026-11-21T12:00:00.000Z.</summary>
        public static string Format(DateTime utc)
        {
            char[] c = new char[24];
            Put(c, 0, utc.Year, 4);
            c[4] = '-';
            Put(c, 5, utc.Month, 2);
            c[7] = '-';
            Put(c, 8, utc.Day, 2);
            c[10] = 'T';
            Put(c, 11, utc.Hour, 2);
            c[13] = ':';
            Put(c, 14, utc.Minute, 2);
            c[16] = ':';
            Put(c, 17, utc.Second, 2);
            c[19] = '.';
            Put(c, 20, utc.Millisecond, 3);
            c[23] = 'Z';
            return new string(c);
        }

        private static void Put(char[] target, int at, int value, int digits)
        {
            for (int i = digits - 1; i >= 0; i--)
            {
                target[at + i] = (char)('0' + value % 10);
                value /= 10;
            }
        }
    }
}
