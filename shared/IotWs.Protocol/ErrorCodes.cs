namespace IotWs.Protocol
{
    /// <summary>Values of "code" in an error message, and of "error" in failed responses.</summary>
    public static class ErrorCodes
    {
        public const string InvalidJson = "invalid_json";
        public const string InvalidMessage = "invalid_message";
        public const string UnknownType = "unknown_type";
        public const string NotAuthenticated = "not_authenticated";
        public const string Forbidden = "forbidden";
        public const string ValidationFailed = "validation_failed";
        public const string RateLimited = "rate_limited";
        public const string PayloadTooLarge = "payload_too_large";
        public const string UnsupportedBinary = "unsupported_binary";
        public const string InternalError = "internal_error";
        public const string AuthFailed = "auth_failed";
        public const string DeviceDisconnected = "device_disconnected";
        public const string Timeout = "timeout";
    }

    /// <summary>WebSocket close status codes the gateway uses.</summary>
    public static class CloseCodes
    {
        public const int Normal = 1000;
        public const int GoingAway = 1001;
        /// <summary>A broken WebSocket frame (the WebSocket layer refused it).</summary>
        public const int ProtocolError = 1002;
        /// <summary>A text frame that is not valid UTF-8 (RFC 6455 section 8.1).</summary>
        public const int InvalidPayload = 1007;
        public const int PolicyViolation = 1008;
        public const int MessageTooBig = 1009;
        public const int TryAgainLater = 1013;
        public const int AuthFailed = 4401;
        public const int HeartbeatTimeout = 4408;
        public const int Replaced = 4409;
        public const int RateLimited = 4429;
    }
}
