namespace IotWs.Protocol
{
    /// <summary>Field names our firmware adds in RPC answers (get_sensor_status, ping, identify, get_config).</summary>
    public static class DeviceFields
    {
        /// <summary>The seed sketch's name for free heap bytes in get_sensor_status.</summary>
        public const string FreeHeap = "free_heap";
        public const string Pong = "pong";
        public const string SensorOk = "sensorOk";
        public const string ConsecutiveFailures = "consecutiveFailures";
        public const string LastReadingAgeMs = "lastReadingAgeMs";
        public const string Buffered = "buffered";
        public const string ReadingsDropped = "readingsDropped";
        public const string Identifying = "identifying";
        public const string DurationMs = "durationMs";
        public const string FirmwareVersion = "firmwareVersion";
        public const string BufferCapacity = "bufferCapacity";
    }

    /// <summary>Capability names a device lists in its handshake.</summary>
    public static class Capabilities
    {
        public const string SensorData = "sensor_data";
        public const string RemoteControl = "remote_control";

        /// <summary>The device replays buffered readings with the batch form of "data".</summary>
        public const string Batch = "batch";
    }
}
