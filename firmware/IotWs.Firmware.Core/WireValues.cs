using System;
using System.Collections;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// The one place where values parsed from JSON are converted. nanoFramework.Json gives int, long or
    /// double for a number depending on how it was written, so a cast like (double)ht["t"] throws
    /// when the gateway wrote 23; every read of a parsed value goes through here.
    /// </summary>
    public static class WireValues
    {
        /// <summary>Reads a number as double; false when the value is missing or not a number.</summary>
        public static bool TryGetDouble(object value, out double result)
        {
            result = 0;
            if (value == null) return false;
            if (value is double) { result = (double)value; return true; }
            if (value is int) { result = (int)value; return true; }
            if (value is long) { result = (long)value; return true; }
            if (value is float) { result = (float)value; return true; }
            if (value is short) { result = (short)value; return true; }
            if (value is uint) { result = (uint)value; return true; }
            if (value is ulong) { result = (ulong)value; return true; }
            if (value is byte) { result = (byte)value; return true; }
            return false;
        }

        /// <summary>Reads a whole number as long; false for missing, non-numeric or fractional values.</summary>
        public static bool TryGetLong(object value, out long result)
        {
            result = 0;
            if (value == null) return false;
            if (value is int) { result = (int)value; return true; }
            if (value is long) { result = (long)value; return true; }
            if (value is short) { result = (short)value; return true; }
            if (value is uint) { result = (uint)value; return true; }
            if (value is byte) { result = (byte)value; return true; }
            if (value is ulong)
            {
                ulong u = (ulong)value;
                if (u > long.MaxValue) return false;
                result = (long)u;
                return true;
            }
            double d;
            if (TryGetDouble(value, out d))
            {
                // 5000.0 is a whole number even if the writer added a decimal point.
                if (double.IsNaN(d) || d < -9.2e18 || d > 9.2e18) return false;
                long whole = (long)d;
                if (whole != d) return false;
                result = whole;
                return true;
            }
            return false;
        }

        /// <summary>Reads a whole number that fits an int.</summary>
        public static bool TryGetInt(object value, out int result)
        {
            result = 0;
            long l;
            if (!TryGetLong(value, out l) || l < int.MinValue || l > int.MaxValue) return false;
            result = (int)l;
            return true;
        }

        /// <summary>A string field, or null when missing or not a string.</summary>
        public static string GetString(Hashtable message, string key)
        {
            if (message == null) return null;
            return message[key] as string;
        }

        /// <summary>A boolean field; the fallback when missing or not a boolean.</summary>
        public static bool GetBool(Hashtable message, string key, bool fallback)
        {
            if (message == null) return fallback;
            object value = message[key];
            if (value is bool) return (bool)value;
            return fallback;
        }

        /// <summary>A nested object, or null.</summary>
        public static Hashtable GetObject(Hashtable message, string key)
        {
            if (message == null) return null;
            return message[key] as Hashtable;
        }

        /// <summary>A nested array, or null.</summary>
        public static ArrayList GetArray(Hashtable message, string key)
        {
            if (message == null) return null;
            return message[key] as ArrayList;
        }

        /// <summary>True when the field is present with a non-null value.</summary>
        public static bool Has(Hashtable message, string key)
        {
            return message != null && message.Contains(key) && message[key] != null;
        }

        /// <summary>Parses a stored decimal integer string (from IStore) without throwing.</summary>
        public static bool TryParseLong(string text, out long result)
        {
            result = 0;
            if (text == null || text.Length == 0 || text.Length > 19) return false;
            bool negative = text[0] == '-';
            int start = negative ? 1 : 0;
            if (start == text.Length) return false;
            long value = 0;
            for (int i = start; i < text.Length; i++)
            {
                char c = text[i];
                if (c < '0' || c > '9') return false;
                value = value * 10 + (c - '0');
            }
            result = negative ? -value : value;
            return true;
        }
    }
}
