namespace IotWs.Protocol
{
    /// <summary>Wire names of message fields (nanoFramework.Json has no attributes, so both sides build messages from these).</summary>
    public static class Fields
    {
        public const string Type = "type";
        public const string ClientId = "clientId";
        public const string ClientType = "clientType";
        public const string AuthRequired = "authRequired";
        public const string ProtocolVersion = "protocolVersion";
        public const string ServerTime = "serverTime";
        public const string HeartbeatInterval = "heartbeatInterval";
        public const string MaxPayloadSize = "maxPayloadSize";
        public const string Capabilities = "capabilities";
        public const string Version = "version";
        public const string DeviceId = "deviceId";
        public const string BootId = "bootId";

        /// <summary>auth_response to a device: the highest bootId stored for it (extension of v1; omitted when none).</summary>
        public const string LastBootId = "lastBootId";

        public const string Token = "token";
        public const string Success = "success";
        public const string Role = "role";
        public const string Error = "error";
        public const string Code = "code";
        public const string Message = "message";
        public const string Timestamp = "timestamp";
        public const string Uptime = "uptime";
        public const string FreeMemory = "freeMemory";
        public const string Rssi = "rssi";
        public const string SensorErrors = "sensorErrors";
        public const string DataType = "dataType";
        public const string Data = "data";
        public const string Batch = "batch";
        public const string Results = "results";
        public const string Seq = "seq";
        public const string InsertId = "insertId";
        public const string Duplicate = "duplicate";
        public const string Temperature = "temperature";
        public const string Humidity = "humidity";
        public const string SensorId = "sensor_id";
        public const string Location = "location";
        public const string BatteryLevel = "battery_level";
        public const string DeviceTimestamp = "deviceTimestamp";
        public const string RequestId = "requestId";
        public const string Endpoint = "endpoint";
        /// <summary>Of a paged response (get_readings): pass it back as data.cursor for the next page.</summary>
        public const string Cursor = "cursor";
        public const string Method = "method";
        public const string Params = "params";
        public const string Topic = "topic";
        public const string Source = "source";
        public const string Status = "status";
        public const string Reason = "reason";
        public const string At = "at";
        public const string StreamId = "streamId";
        public const string StreamType = "streamType";
        public const string Metadata = "metadata";
        public const string SequenceNumber = "sequenceNumber";
        public const string Bytes = "bytes";
        public const string ReadingIntervalMs = "readingIntervalMs";
        public const string HeartbeatIntervalMs = "heartbeatIntervalMs";
    }
}
