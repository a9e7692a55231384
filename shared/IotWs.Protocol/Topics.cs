namespace IotWs.Protocol
{
    /// <summary>Topic names and the MQTT-style rules for topics and subscription filters.</summary>
    public static class Topics
    {
        public const string SensorUpdates = "sensor_updates";
        public const string DeviceStatus = "device_status";
        public const string SystemAlerts = "system_alerts";
        public const string TemperatureAlerts = "temperature-alerts";
        public const string DevicesPrefix = "devices/";
        public const string StreamsPrefix = "streams/";
        public const int MaxLength = 256;

        /// <summary>The topic on which a device's stored readings are published.</summary>
        public static string DeviceReadings(string deviceId)
        {
            return DevicesPrefix + deviceId + "/readings";
        }

        /// <summary>The topic a stream's chunks are relayed on.</summary>
        public static string Stream(string streamId)
        {
            return StreamsPrefix + streamId;
        }

        /// <summary>A topic one publishes to: non-empty levels, no wildcards.</summary>
        public static bool IsValidTopic(string topic)
        {
            if (!HasValidShape(topic)) return false;
            return topic.IndexOf('+') < 0 && topic.IndexOf('#') < 0;
        }

        /// <summary>A subscription filter: '+' is a whole level, '#' only as the whole last level.</summary>
        public static bool IsValidFilter(string filter)
        {
            if (!HasValidShape(filter)) return false;
            string[] levels = filter.Split('/');
            for (int i = 0; i < levels.Length; i++)
            {
                string level = levels[i];
                bool hasPlus = level.IndexOf('+') >= 0;
                bool hasHash = level.IndexOf('#') >= 0;
                if (hasPlus && level.Length != 1) return false;
                if (hasHash && (level.Length != 1 || i != levels.Length - 1)) return false;
            }
            return true;
        }

        /// <summary>True when a valid filter matches a valid topic.</summary>
        public static bool Matches(string filter, string topic)
        {
            string[] f = filter.Split('/');
            string[] t = topic.Split('/');
            for (int i = 0; i < f.Length; i++)
            {
                if (f[i] == "#") return true;
                if (i >= t.Length) return false;
                if (f[i] == "+") continue;
                if (f[i] != t[i]) return false;
            }
            return f.Length == t.Length;
        }

        /// <summary>True when a device with this id may publish on the topic (only under devices/{its id}/).</summary>
        public static bool IsOwnDeviceTopic(string deviceId, string topic)
        {
            string prefix = DevicesPrefix + deviceId + "/";
            return deviceId != null && deviceId.Length > 0 && topic.Length > prefix.Length && topic.Substring(0, prefix.Length) == prefix;
        }

        private static bool HasValidShape(string topic)
        {
            if (topic == null || topic.Length == 0 || topic.Length > MaxLength) return false;
            string[] levels = topic.Split('/');
            for (int i = 0; i < levels.Length; i++)
            {
                if (levels[i].Length == 0) return false;
            }
            for (int i = 0; i < topic.Length; i++)
            {
                if (topic[i] < ' ') return false;
            }
            return true;
        }
    }
}
