namespace IotWs.Protocol
{
    /// <summary>Request endpoints: those the gateway serves and those our firmware answers.</summary>
    public static class Endpoints
    {
        // served by the gateway
        public const string GetTime = "get_time";
        public const string GetConfig = "get_config";
        public const string GetDevices = "get_devices";
        public const string GetReadings = "get_readings";
        public const string GetStatus = "get_status";

        // answered by devices
        public const string GetSensorStatus = "get_sensor_status";
        public const string Reboot = "reboot";
        public const string Ping = "ping";
        public const string SetInterval = "set_interval";
        public const string Identify = "identify";

        /// <summary>The error text the seed uses for an endpoint nobody serves.</summary>
        public static string Unknown(string endpoint)
        {
            return "Unknown endpoint: " + endpoint;
        }
    }

    /// <summary>Gateway RPC method names (rpc_call).</summary>
    public static class RpcMethods
    {
        public const string CalculateAverage = "calculateAverage";
        public const string DeviceCall = "device.call";
    }

    /// <summary>Statuses of a gateway-to-device call, as the audit log and the REST API report them.</summary>
    public static class RpcStatuses
    {
        public const string Queued = "queued";
        public const string Sent = "sent";
        public const string Succeeded = "succeeded";
        public const string Failed = "failed";
        public const string Timeout = "timeout";
        public const string Expired = "expired";
        public const string Rebooting = "rebooting";
        public const string Confirmed = "confirmed";
        public const string Unconfirmed = "unconfirmed";
    }

    /// <summary>Device presence states published on device_status.</summary>
    public static class PresenceStates
    {
        public const string Online = "online";
        public const string Stale = "stale";
        public const string Offline = "offline";
    }
}
