namespace IotWs.Protocol
{
    /// <summary>Values of the "type" field of every protocol message.</summary>
    public static class MessageTypes
    {
        public const string Welcome = "welcome";
        public const string Handshake = "handshake";
        public const string HandshakeResponse = "handshake_response";
        public const string Auth = "auth";
        public const string AuthResponse = "auth_response";
        public const string Heartbeat = "heartbeat";
        public const string HeartbeatResponse = "heartbeat_response";
        public const string Data = "data";
        public const string SensorData = "sensor_data";
        public const string DataResponse = "data_response";
        public const string Request = "request";
        public const string Response = "response";
        public const string RpcCall = "rpc_call";
        public const string RpcResponse = "rpc_response";
        public const string Subscribe = "subscribe";
        public const string SubscribeResponse = "subscribe_response";
        public const string Unsubscribe = "unsubscribe";
        public const string UnsubscribeResponse = "unsubscribe_response";
        public const string Publish = "publish";
        public const string StreamStart = "stream_start";
        public const string StreamStarted = "stream_started";
        public const string StreamData = "stream_data";
        public const string StreamEnd = "stream_end";
        public const string StreamEnded = "stream_ended";
        public const string Error = "error";
    }
}
