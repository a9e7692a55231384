namespace IotWs.Protocol
{
    /// <summary>What a sensor reading must satisfy before anyone stores or sends it (DHT22 limits).</summary>
    public static class ReadingRules
    {
        public const double MinTemperature = -40.0;
        public const double MaxTemperature = 80.0;
        public const double MinHumidity = 0.0;
        public const double MaxHumidity = 100.0;

        /// <summary>Epoch milliseconds of 2020-01-01T00:00:00Z: anything earlier is an uptime, not a wall-clock time.</summary>
        public const long PlausibleEpochMs = 1577836800000L;

        /// <summary>Returns null when the pair is a valid DHT22 reading, otherwise why it is not.</summary>
        public static string Check(double temperature, double humidity)
        {
            string t = CheckTemperature(temperature);
            if (t != null) return t;
            return CheckHumidity(humidity);
        }

        /// <summary>Returns null when the temperature is a number inside the DHT22 range.</summary>
        public static string CheckTemperature(double temperature)
        {
            if (double.IsNaN(temperature) || double.IsInfinity(temperature)) return "temperature is not a number";
            if (temperature < MinTemperature || temperature > MaxTemperature)
                return "temperature " + Format(temperature) + " is outside -40..80";
            return null;
        }

        /// <summary>Returns null when the humidity is a number inside 0..100 %RH.</summary>
        public static string CheckHumidity(double humidity)
        {
            if (double.IsNaN(humidity) || double.IsInfinity(humidity)) return "humidity is not a number";
            if (humidity < MinHumidity || humidity > MaxHumidity)
                return "humidity " + Format(humidity) + " is outside 0..100";
            return null;
        }

        /// <summary>True when epoch milliseconds look like a real date rather than an uptime.</summary>
        public static bool IsPlausibleEpochMs(long epochMs)
        {
            return epochMs >= PlausibleEpochMs;
        }

        private static string Format(double value)
        {
            return value.ToString();
        }
    }
}
